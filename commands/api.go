package commands

// This file lists the package's entry points for its callers (actors,
// httpapi, store); their implementations live in the files named below.
//
//   DecodeSpec(r io.Reader) (*Spec, error)          spec_parse.go: strict JSON, FieldError on bad fields
//   (*Spec).Normalize(capacity int) error           spec_parse.go: defaults + validation, *FieldError
//   (*Spec).Redacted() *Spec                         spec_parse.go: copy with secrets replaced
//   ParseTarget(s, protocol string) (Target, error) target.go
//   Compile(s string) (*Template, error)             template.go: $VAR / ${VAR}
//   NewHTTPExecutor(HTTPConfig) *HTTPExecutor        http.go: fasthttp, own dialer, Connection: close
//   NewSSHExecutor(SSHConfig) *SSHExecutor          ssh.go: x/crypto/ssh, known_hosts state, bastions
//   NewPlan(*Spec, *HTTPExecutor, ...PlanOption)     plan.go: compiled spec (WithSSH(x) for SSH jobs);
//     (*Plan, error)                                   Plan.Run(ctx, IndexedTarget) Result
//   Classify(err error) string                       classify.go: error → error class
//   FoldHosts(hosts []string) string                 fold.go: clush-style "10.0.0.[1-5],web-[01-03]"
