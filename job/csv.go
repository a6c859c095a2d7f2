package job

import "strconv"

// csvColumns are the columns of a results CSV, in order.
var csvColumns = []string{"index", "host", "state", "statusCode", "exitCode", "latencyMs", "errorClass", "error", "value"}

// CSVHeader is the header row of results as CSV: `salvo results --output
// csv` (with --body, body and stderr end the row) and GET
// /api/v1/jobs/ID/results?format=csv write the same columns in this order.
// The slice is the caller's.
func CSVHeader(body bool) []string {
	h := make([]string, len(csvColumns), len(csvColumns)+2)
	copy(h, csvColumns)
	if body {
		h = append(h, "body", "stderr")
	}
	return h
}

// CSVRecord is r's row under CSVHeader(body): a status code of 0 (SSH, or
// no answer) and a missing exit code (HTTP, or no answer) are empty cells,
// an exit code of 0 is "0", the latency has as many digits as it needs.
// The cells the targets write (host, error, value, body, stderr) go
// through CSVText, so that a spreadsheet opening the file runs no formula
// a host sent.
func CSVRecord(r *Result, body bool) []string {
	row := make([]string, 0, len(csvColumns)+2)
	status, exit := "", ""
	if r.StatusCode != 0 {
		status = strconv.Itoa(r.StatusCode)
	}
	if r.ExitCode != nil {
		exit = strconv.Itoa(*r.ExitCode)
	}
	row = append(row, strconv.Itoa(r.Index), CSVText(r.Host), r.State, status, exit,
		strconv.FormatFloat(r.LatencyMs, 'f', -1, 64), r.ErrorClass, CSVText(r.Error), CSVText(r.Value))
	if body {
		row = append(row, CSVText(r.Body), CSVText(r.Stderr))
	}
	return row
}

// CSVText returns s with a "'" before it when a spreadsheet would read it
// as a formula (it starts with =, +, -, @, a tab or a carriage return),
// as OWASP's advice on CSV injection has it; other text is unchanged.
func CSVText(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
