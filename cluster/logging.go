package cluster

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
)

// keyHint is added to log records and errors that point at a gossip
// encryption problem.
const keyHint = "gossip key mismatch or encryption misconfigured"

// newStdLogger returns a standard logger whose lines (memberlist writes
// "[LEVEL] memberlist: message") land in l at the matching slog level.
func newStdLogger(l *slog.Logger) *log.Logger {
	return log.New(&logWriter{l: l}, "", 0)
}

// logWriter adapts memberlist's log lines to slog. log.Logger serialises
// calls to Write, and each call carries one line.
type logWriter struct {
	l *slog.Logger
}

// Write logs every line of p and never fails.
func (w *logWriter) Write(p []byte) (int, error) {
	for line := range bytes.SplitSeq(p, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		level, msg := parseLogLine(string(line))
		if !w.l.Enabled(context.Background(), level) {
			continue
		}
		attrs := []any{slog.String("component", "memberlist")}
		if isKeyProblem(msg) {
			attrs = append(attrs, slog.String("hint", keyHint))
		}
		w.l.Log(context.Background(), level, msg, attrs...)
	}
	return len(p), nil
}

// parseLogLine splits "[LEVEL] memberlist: msg" into a slog level and the
// message. Lines without a known prefix are logged at Info.
func parseLogLine(s string) (slog.Level, string) {
	s = strings.TrimSpace(s)
	level := slog.LevelInfo
	if strings.HasPrefix(s, "[") {
		if end := strings.IndexByte(s, ']'); end > 0 {
			switch strings.ToUpper(s[1:end]) {
			case "TRACE", "DEBUG":
				level = slog.LevelDebug
			case "INFO":
				level = slog.LevelInfo
			case "WARN", "WARNING":
				level = slog.LevelWarn
			case "ERR", "ERROR":
				level = slog.LevelError
			}
			s = strings.TrimSpace(s[end+1:])
		}
	} else if strings.HasPrefix(s, "Err:") {
		level = slog.LevelError
		s = strings.TrimSpace(s[len("Err:"):])
	}
	s = strings.TrimPrefix(s, "memberlist: ")
	return level, s
}

// isKeyProblem reports whether a memberlist message or error says that
// gossip could not be decrypted or that only one side encrypts.
func isKeyProblem(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "could decrypt") ||
		strings.Contains(s, "decrypt packet failed") ||
		strings.Contains(s, "encryption is not configured") ||
		strings.Contains(s, "remote state is not encrypted")
}
