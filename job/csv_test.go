package job

import (
	"slices"
	"testing"
)

func TestCSVRecordMatchesHeader(t *testing.T) {
	zero, four := 0, 4
	for _, tc := range []struct {
		name string
		r    Result
		body bool
		want []string
	}{
		{"http", Result{Index: 3, Host: "web-1", State: StateOK, StatusCode: 200, LatencyMs: 12.25, Value: "v1", Body: "b"}, false,
			[]string{"3", "web-1", "ok", "200", "", "12.25", "", "", "v1"}},
		{"ssh exit 0", Result{Index: 0, Host: "db-1", State: StateOK, ExitCode: &zero, LatencyMs: 40}, false,
			[]string{"0", "db-1", "ok", "", "0", "40", "", "", ""}},
		{"ssh failed with body", Result{Index: 9, Host: "db-2", State: StateFailed, ExitCode: &four, Body: "out\n", Stderr: "x\n"}, true,
			[]string{"9", "db-2", "failed", "", "4", "0", "", "", "", "out\n", "x\n"}},
		{"formulas from a host", Result{Index: 2, Host: "h", State: StateOK, StatusCode: 200, Value: "=HYPERLINK(\"x\")", Body: "+1", Stderr: "@SUM(A1)", Error: "-2"}, true,
			[]string{"2", "h", "ok", "200", "", "0", "", "'-2", "'=HYPERLINK(\"x\")", "'+1", "'@SUM(A1)"}},
		{"no answer", Result{Index: 1, Host: "h", State: StateError, ErrorClass: ClassConnectRefused, Error: "refused, \"really\""}, false,
			[]string{"1", "h", "error", "", "", "0", ClassConnectRefused, "refused, \"really\"", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CSVRecord(&tc.r, tc.body)
			if !slices.Equal(got, tc.want) {
				t.Errorf("CSVRecord = %q, want %q", got, tc.want)
			}
			if h := CSVHeader(tc.body); len(h) != len(got) {
				t.Errorf("header has %d columns, the row %d", len(h), len(got))
			}
		})
	}
	h := CSVHeader(false)
	h[0] = "changed"
	if CSVHeader(false)[0] != "index" {
		t.Error("CSVHeader returned a shared slice")
	}
	if got := CSVHeader(true); got[len(got)-2] != "body" || got[len(got)-1] != "stderr" {
		t.Errorf("CSVHeader(true) = %q", got)
	}
}
