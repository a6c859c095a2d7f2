// Package commands executes one request against one target: the HTTP
// executor (fasthttp) and the SSH executor (x/crypto/ssh), a job spec
// compiled into a Plan, body caps, error classification and retries. The job
// model it executes lives in package job; commands knows nothing about
// actors, jobs in flight or the cluster.
//
// Entry points:
//
//	NewHTTPExecutor(HTTPConfig) *HTTPExecutor        http.go: fasthttp, own dialer, Connection: close
//	NewSSHExecutor(SSHConfig) *SSHExecutor           ssh.go: x/crypto/ssh, known_hosts state, bastions
//	NewPlan(*job.Spec, *HTTPExecutor, ...PlanOption) plan.go: compiled spec (WithSSH(x) for SSH jobs);
//	  (*Plan, error)                                   Plan.Run(ctx, job.IndexedTarget) job.Result
//	Classify(err error) string                       classify.go: error → error class
package commands
