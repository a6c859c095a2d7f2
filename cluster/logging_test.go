package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestParseLogLine(t *testing.T) {
	tests := []struct {
		in        string
		wantLevel slog.Level
		wantMsg   string
	}{
		{"[DEBUG] memberlist: Stream connection from=127.0.0.1:1", slog.LevelDebug, "Stream connection from=127.0.0.1:1"},
		{"[INFO] memberlist: Marking b as failed", slog.LevelInfo, "Marking b as failed"},
		{"[WARN] memberlist: Refuting a suspect message", slog.LevelWarn, "Refuting a suspect message"},
		{"[ERR] memberlist: failed to receive: boom", slog.LevelError, "failed to receive: boom"},
		{"[ERROR] memberlist: Failed to encrypt", slog.LevelError, "Failed to encrypt"},
		{"[ERR] Failed to shutdown transport: x", slog.LevelError, "Failed to shutdown transport: x"},
		{"Err: Could not set the deadline: x", slog.LevelError, "Could not set the deadline: x"},
		{"no prefix at all\n", slog.LevelInfo, "no prefix at all"},
	}
	for _, tt := range tests {
		level, msg := parseLogLine(tt.in)
		if level != tt.wantLevel || msg != tt.wantMsg {
			t.Errorf("parseLogLine(%q) = %v, %q; want %v, %q", tt.in, level, msg, tt.wantLevel, tt.wantMsg)
		}
	}
}

func TestStdLoggerToSlog(t *testing.T) {
	var buf bytes.Buffer
	l := newStdLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Printf("[DEBUG] memberlist: hidden")
	l.Printf("[ERR] memberlist: failed to receive: no installed keys could decrypt the message from=127.0.0.1:5")
	l.Printf("[WARN] memberlist: two\n[INFO] memberlist: lines")
	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Errorf("debug line logged at info level:\n%s", out)
	}
	for _, want := range []string{
		`level=ERROR msg="failed to receive: no installed keys could decrypt the message from=127.0.0.1:5" component=memberlist hint="gossip key mismatch or encryption misconfigured"`,
		`level=WARN msg=two component=memberlist`,
		`level=INFO msg=lines component=memberlist`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
