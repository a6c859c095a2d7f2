package httpapi_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/internal/testutil"
	"github.com/salvo-sh/salvo/job"
)

// fetch GETs u with an Accept header (none when empty) and returns the
// answer with its body read.
func fetch(t *testing.T, u, accept string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	return resp, b
}

// GET /results?format=csv (or Accept: text/csv) streams every matching
// result, across several pages of the store, as the CLI's CSV: the header
// job.CSVHeader, then job.CSVRecord per result in index order; ?format=
// answers are attachments named after the job, and a bad format is a 400.
func TestResultsAsCSVAndNDJSON(t *testing.T) {
	u, st := startStoreAPI(t)
	rs := storeBigJob(t, st, "big") // 3,000 results: three pages of 1,000
	base := u + "/api/v1/jobs/big/results"
	wantRows := func(keep func(job.Result) bool) [][]string {
		out := [][]string{job.CSVHeader(false)}
		for i := range rs {
			if keep(rs[i]) {
				out = append(out, job.CSVRecord(&rs[i], false))
			}
		}
		return out
	}
	every := func(job.Result) bool { return true }
	for _, tc := range []struct {
		name, query, accept string
		want                [][]string
		attachment          string
		nextCursor          string
	}{
		{"format=csv", "?format=csv", "", wantRows(every), `attachment; filename=big.csv`, ""},
		{"Accept: text/csv", "", "text/csv", wantRows(every), `attachment; filename=big.csv`, ""},
		{"format wins over Accept", "?format=csv", "application/x-ndjson", wantRows(every), `attachment; filename=big.csv`, ""},
		{"state filter", "?format=csv&state=error", "", wantRows(func(r job.Result) bool { return r.State == job.StateError }), `attachment; filename=big.csv`, ""},
		{"host filter", "?format=csv&host=10.0.1.7", "", wantRows(func(r job.Result) bool { return r.Host == "10.0.1.7" }), `attachment; filename=big.csv`, ""},
		{"cursor", "?format=csv&cursor=2995", "", wantRows(func(r job.Result) bool { return r.Index >= 2995 }), `attachment; filename=big.csv`, ""},
		{"one page", "?format=csv&limit=10", "", wantRows(func(r job.Result) bool { return r.Index < 10 }), `attachment; filename=big.csv`, "10"},
		{"nothing matches", "?format=csv&host=192.0.2.1", "", wantRows(func(job.Result) bool { return false }), `attachment; filename=big.csv`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := fetch(t, base+tc.query, tc.accept)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
				t.Fatalf("%d %q: %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if got := resp.Header.Get("Content-Disposition"); got != tc.attachment {
				t.Errorf("Content-Disposition %q, want %q", got, tc.attachment)
			}
			if got := resp.Header.Get("X-Next-Cursor"); got != tc.nextCursor {
				t.Errorf("X-Next-Cursor %q, want %q", got, tc.nextCursor)
			}
			rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
			if err != nil {
				t.Fatalf("not CSV: %v", err)
			}
			if len(rows) != len(tc.want) {
				t.Fatalf("%d rows, want %d", len(rows), len(tc.want))
			}
			for i := range rows {
				if !slices.Equal(rows[i], tc.want[i]) {
					t.Fatalf("row %d = %q, want %q", i, rows[i], tc.want[i])
				}
			}
		})
	}
	// The header is the documented one (README, docs/dashboard.md, salvo
	// results --output csv).
	if h := strings.Join(job.CSVHeader(false), ","); h != "index,host,state,statusCode,exitCode,latencyMs,errorClass,error,value" {
		t.Errorf("CSV header %s", h)
	}

	t.Run("format=ndjson", func(t *testing.T) {
		resp, body := fetch(t, base+"?format=ndjson&state=ok", "")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" ||
			resp.Header.Get("Content-Disposition") != "attachment; filename=big.ndjson" {
			t.Fatalf("%d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
		}
		sc := bufio.NewScanner(strings.NewReader(string(body)))
		n := 0
		for sc.Scan() {
			var r job.Result
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.State != job.StateOK {
				t.Fatalf("line %d: %s (%v)", n, sc.Text(), err)
			}
			n++
		}
		if n != 2400 {
			t.Errorf("%d ok results, want 2,400", n)
		}
	})
	t.Run("Accept NDJSON is no attachment", func(t *testing.T) {
		resp, _ := fetch(t, base+"?limit=5", "application/x-ndjson")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Disposition") != "" || resp.Header.Get("X-Next-Cursor") != "5" {
			t.Errorf("%d Content-Disposition %q X-Next-Cursor %q", resp.StatusCode, resp.Header.Get("Content-Disposition"), resp.Header.Get("X-Next-Cursor"))
		}
	})
	t.Run("format=json", func(t *testing.T) {
		var pg struct {
			Items      []job.Result `json:"items"`
			NextCursor string       `json:"nextCursor"`
		}
		if code := testutil.DoJSON(t, "GET", base+"?format=json&limit=3", nil, &pg); code != http.StatusOK || len(pg.Items) != 3 || pg.NextCursor != strconv.Itoa(3) {
			t.Errorf("%d: %d items, next %q", code, len(pg.Items), pg.NextCursor)
		}
	})
	t.Run("bad format", func(t *testing.T) {
		var e apiError
		if code := testutil.DoJSON(t, "GET", base+"?format=xml", nil, &e); code != http.StatusBadRequest || e.Field != "format" {
			t.Errorf("%d field %q, want 400 naming format", code, e.Field)
		}
	})
}
