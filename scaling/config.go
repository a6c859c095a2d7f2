// Package scaling grows and shrinks the pool of workers with the load:
// per tag, it asks the operator's tooling for a worker more when jobs have
// waited too long, and drains the most idle worker, then asks for it to
// be stopped, when the tag's workers idle (docs/scaling.md). The policies
// are the config file's (conf.ScalingPolicy); it runs on the master that
// schedules: the leader of a Raft group.
package scaling

import (
	"time"

	"github.com/salvo-sh/salvo/conf"
)

// Interval is how often the scaler looks at the load for policies: a
// quarter of the shortest whenWaitingFor or whenIdleFor, between 100 ms
// and 5 s.
func Interval(policies map[string]conf.ScalingPolicy) time.Duration {
	shortest := 20 * time.Second
	for _, p := range policies {
		if p.Up != nil && p.Up.WhenWaitingFor > 0 {
			shortest = min(shortest, p.Up.WhenWaitingFor)
		}
		if p.Down != nil && p.Down.WhenIdleFor > 0 {
			shortest = min(shortest, p.Down.WhenIdleFor)
		}
	}
	return min(max(shortest/4, 100*time.Millisecond), 5*time.Second)
}

// hookKind names a hook in logs without its command line or URL (either
// may hold a secret).
func hookKind(h *conf.ScalingHook) string {
	if h.Webhook != "" {
		return "webhook"
	}
	return "exec"
}
