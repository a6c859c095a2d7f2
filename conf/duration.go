package conf

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DayDuration is a duration that may also be written in days: "30d",
// "1d12h", or anything time.ParseDuration reads ("720h", "0").
type DayDuration time.Duration

// maxDays bounds the days of a DayDuration (time.Duration holds about
// 106,751 days).
const maxDays = 100_000

// ParseDayDuration reads a DayDuration: an optional whole number of days
// ("30d") followed by an optional time.ParseDuration duration.
func ParseDayDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	rest := strings.TrimPrefix(s, "-")
	var d time.Duration
	days := false
	if i := strings.IndexByte(rest, 'd'); i > 0 {
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n > maxDays {
			return 0, fmt.Errorf("invalid duration %q (want e.g. 30d, 12h, 1d12h)", s)
		}
		d, rest, days = time.Duration(n)*24*time.Hour, rest[i+1:], true
	}
	if rest != "" || !days {
		p, err := time.ParseDuration(rest)
		if err != nil || p < 0 {
			return 0, fmt.Errorf("invalid duration %q (want e.g. 30d, 12h, 1d12h)", s)
		}
		d += p
	}
	if neg {
		d = -d
	}
	return d, nil
}

// String writes the duration in days when it is a whole number of them
// ("30d"), as time.Duration does otherwise.
func (d DayDuration) String() string {
	const day = 24 * time.Hour
	if v := time.Duration(d); v != 0 && v%day == 0 {
		return strconv.FormatInt(int64(v/day), 10) + "d"
	}
	return time.Duration(d).String()
}

// UnmarshalYAML reads a DayDuration from a YAML string.
func (d *DayDuration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParseDayDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = DayDuration(v)
	return nil
}
