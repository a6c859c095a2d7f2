package commands

import (
	"errors"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/job"
)

// FuzzDecodeSpec checks that every spec that decodes and normalizes
// compiles into a plan.
func FuzzDecodeSpec(f *testing.F) {
	seeds := []string{
		`{"targets":["a"]}`,
		`{"targets":["a:1",{"host":"[::1]","vars":{"X":"NA"}}],"http":{"port":"$X","path":"/${X}","method":"post","body":"$HOST"}}`,
		`{"nodeGroup":"x"}`,
		`{"targets":["u@h"],"protocol":"ssh","ssh":{"command":"echo $INDEX","auth":{"password":"p"}}}`,
		`{"targets":["https://h/p"],"timeouts":{"connect":1.5,"request":"1m"},"aggregation":{"regex":"v=(\\d+)"},"maxConcurrency":5}`,
		`{"targets":[null],"http":null,"vars":{"":""}}`,
		`{"targets":["a"],"expect":{"status":["2xx",304],"bodyRegex":"^ok"}}`,
		`{"targets":["a"],"protocol":"ssh","ssh":{"command":"x"},"expect":{"exitCodes":[0,1]}}`,
		`{"targets":["h[1-3]",{"host":"g[01-02]:8[0-1]","vars":{"X":"1"}}],"exclude":["h2","g01:80"],"http":{"path":"/$X"},"vars":{"X":"0"}}`,
	}
	for _, s := range seeds {
		f.Add(s, 2500)
	}
	f.Fuzz(func(t *testing.T, js string, capacity int) {
		s, err := job.DecodeSpec(strings.NewReader(js))
		if err != nil {
			var fe *job.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("DecodeSpec error is %T, want *FieldError: %v", err, err)
			}
			return
		}
		if err := s.Normalize(capacity); err != nil {
			var fe *job.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Normalize error is %T, want *FieldError: %v", err, err)
			}
			return
		}
		_ = s.Redacted()
		if s.MaxConcurrency < 1 || (capacity > 0 && s.MaxConcurrency > capacity) {
			t.Fatalf("maxConcurrency %d with capacity %d", s.MaxConcurrency, capacity)
		}
		if _, err := NewPlan(s, nil); err != nil && s.Protocol == job.ProtocolSSH {
			t.Fatalf("NewPlan of a normalized ssh spec: %v", err)
		}
		h := NewHTTPExecutor(DefaultHTTPConfig())
		defer h.Close()
		if _, err := NewPlan(s, h); err != nil {
			t.Fatalf("NewPlan of a normalized spec: %v", err)
		}
	})
}
