package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/salvo-sh/salvo/job"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// Next slots of expressions and descriptors, in their zone.
func TestParseNext(t *testing.T) {
	tests := []struct {
		expr, tz, from, want string
	}{
		{"*/15 * * * *", "", "2026-01-10T10:07:00Z", "2026-01-10T10:15:00Z"},
		{"*/15 * * * *", "", "2026-01-10T10:15:00Z", "2026-01-10T10:30:00Z"},          // strictly after
		{"0 9 * * mon-fri", "", "2026-01-10T12:00:00Z", "2026-01-12T09:00:00Z"},       // a Saturday
		{"0 3 * * *", "Europe/Paris", "2026-01-10T12:00:00Z", "2026-01-11T02:00:00Z"}, // CET
		{"0 3 * * *", "Europe/Paris", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"}, // the night it turns CEST
		{"0 3 * * *", "Europe/Paris", "2026-03-29T12:00:00Z", "2026-03-30T01:00:00Z"},
		{"@hourly", "", "2026-01-10T10:07:30Z", "2026-01-10T11:00:00Z"},
		{"@daily", "", "2026-01-10T12:00:00Z", "2026-01-11T00:00:00Z"},
		{"@daily", "America/New_York", "2026-01-10T12:00:00Z", "2026-01-11T05:00:00Z"},
		{"@every 90s", "", "2026-01-10T10:00:00.5Z", "2026-01-10T10:01:30Z"}, // on the second
		{"@every 1s", "", "2026-01-10T10:00:00Z", "2026-01-10T10:00:01Z"},
	}
	for _, tc := range tests {
		t.Run(tc.expr+" "+tc.tz, func(t *testing.T) {
			loc, err := Location(tc.tz)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(tc.expr, loc)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := s.Next(mustTime(t, tc.from)), mustTime(t, tc.want); !got.Equal(want) {
				t.Errorf("Next(%s) = %s, want %s", tc.from, got.UTC(), want)
			}
		})
	}
}

// Bad expressions and zones are field errors with the parser's words,
// never a panic.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		expr, tz, field, msg string
	}{
		{"", "", "cron", "needs a cron expression"},
		{"61 * * * *", "", "cron", "above maximum"},
		{"* * * *", "", "cron", "expected exactly 5 fields"},
		{"* * * * * *", "", "cron", "expected exactly 5 fields"},
		{"@fortnightly", "", "cron", "unrecognized descriptor"},
		{"@every soon", "", "cron", "failed to parse duration"},
		{"*/0 * * * *", "", "cron", "step"},
		{"TZ=UTC", "", "cron", "timezone"}, // the parser would panic on it
		{"CRON_TZ=Europe/Paris 0 3 * * *", "", "cron", "timezone"},
		{"0 3 * * *", "Mars/Olympus", "timezone", "unknown time zone"},
		{"0 3 * * *", "Local", "timezone", "depends on the master"},
	}
	for _, tc := range tests {
		t.Run(tc.expr+" "+tc.tz, func(t *testing.T) {
			d := &Definition{Cron: tc.expr, Timezone: tc.tz}
			_, err := d.Schedule()
			var fe *job.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("got %v, want a %s error with %q", err, tc.field, tc.msg)
			}
		})
	}
}

// Latest finds the latest slot in (ref, now], computing @every and
// looking back over the shortest window that has a slot.
func TestLatest(t *testing.T) {
	tests := []struct {
		name, expr, ref, now, want string // want "" is no slot
	}{
		{"none yet", "*/15 * * * *", "2026-01-10T10:00:00Z", "2026-01-10T10:14:59Z", ""},
		{"on time", "*/15 * * * *", "2026-01-10T10:00:00Z", "2026-01-10T10:15:00.2Z", "2026-01-10T10:15:00Z"},
		{"after downtime", "*/15 * * * *", "2026-01-10T10:00:00Z", "2026-01-10T13:20:00Z", "2026-01-10T13:15:00Z"},
		{"the slot decided", "*/15 * * * *", "2026-01-10T10:15:00Z", "2026-01-10T10:15:30Z", ""},
		{"every 10s", "@every 10s", "2026-01-10T10:00:00Z", "2026-01-10T10:00:35Z", "2026-01-10T10:00:30Z"},
		{"every 10s, none yet", "@every 10s", "2026-01-10T10:00:00Z", "2026-01-10T10:00:09Z", ""},
		{"every 10s from a put", "@every 10s", "2026-01-10T10:00:03.7Z", "2026-01-10T10:01:00Z", "2026-01-10T10:00:53Z"},
		{"daily after a year down", "0 3 * * *", "2025-01-01T00:00:00Z", "2026-06-10T12:00:00Z", "2026-06-10T03:00:00Z"},
		{"yearly", "0 0 1 1 *", "2020-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "2026-01-01T00:00:00Z"},
		{"leap day", "0 0 29 2 *", "2020-03-01T00:00:00Z", "2026-06-01T00:00:00Z", "2024-02-29T00:00:00Z"},
		{"leap day not since", "0 0 29 2 *", "2024-03-01T00:00:00Z", "2026-06-01T00:00:00Z", ""},
		{"mornings, at night", "* 0-11 * * *", "2026-01-09T00:00:00Z", "2026-01-10T20:00:00Z", "2026-01-10T11:59:00Z"},
		{"ref never set", "@every 1m", "0001-01-01T00:00:00Z", "2026-01-10T10:00:30Z", ""}, // checked below
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.expr, nil)
			if err != nil {
				t.Fatal(err)
			}
			ref, now := mustTime(t, tc.ref), mustTime(t, tc.now)
			got := Latest(s, ref, now)
			if ref.IsZero() {
				// Five years back at most: some slot of the last minute.
				if got.IsZero() || got.After(now) || now.Sub(got) >= time.Minute {
					t.Errorf("Latest from the zero time = %s, want a slot of the minute before %s", got, now)
				}
				return
			}
			if tc.want == "" {
				if !got.IsZero() {
					t.Errorf("Latest = %s, want none", got)
				}
				return
			}
			if want := mustTime(t, tc.want); !got.Equal(want) {
				t.Errorf("Latest = %s, want %s", got.UTC(), want)
			}
		})
	}
}
