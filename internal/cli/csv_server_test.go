package cli

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// `salvo results --output csv` and the server's results?format=csv write
// the same bytes: one piece (job.CSVHeader, job.CSVRecord) makes both.
func TestResultsCSVSameAsServer(t *testing.T) {
	e := startJobsEnv(t)
	if out := e.run(t, "status", e.id, "--wait", "20s"); out.code != 0 {
		t.Fatalf("status --wait: %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	for _, tc := range []struct{ name, state, query string }{
		{"every result", "", ""},
		{"error only", "error", "&state=error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{e.id, "--output", "csv"}
			if tc.state != "" {
				args = append(args, "--state", tc.state)
			}
			out := e.run(t, "results", args...)
			if out.code != 0 {
				t.Fatalf("results: %d\n%s", out.code, out.stderr)
			}
			resp, err := client.Get(e.url + "/api/v1/jobs/" + e.id + "/results?format=csv" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET ?format=csv: %d %v", resp.StatusCode, err)
			}
			if string(body) != out.stdout {
				t.Errorf("the server's CSV:\n%s\nthe CLI's:\n%s", body, out.stdout)
			}
		})
	}
}
