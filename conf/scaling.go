package conf

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/salvo-sh/salvo/job"
)

// Defaults and bounds of a ScalingPolicy (docs/scaling.md).
const (
	// DefaultScalingHookTimeout bounds a hook that names no timeout.
	DefaultScalingHookTimeout = 60 * time.Second
	// MaxScalingHookTimeout bounds a hook's timeout.
	MaxScalingHookTimeout = time.Hour
	// DefaultScalingDrainTimeout bounds the wait for a drained worker to
	// finish its jobs, and then to leave once its hook stopped it.
	DefaultScalingDrainTimeout = 10 * time.Minute
	// DefaultScalingMinWorkers is how many enabled workers of a tag a
	// scale-down keeps when the policy does not say.
	DefaultScalingMinWorkers = 1
)

// ScalingPolicy is how one tag's pool of workers grows and shrinks: the
// config file's `scaling: {TAG: {up: …, down: …}}`; TAG "*" is every
// worker. Package scaling applies it.
type ScalingPolicy struct {
	Up   *ScalingUp   `yaml:"up"`
	Down *ScalingDown `yaml:"down"`
}

// ScalingUp says when to ask for one worker more.
type ScalingUp struct {
	// WhenWaitingFor: ask when the tag's oldest waiting job has waited
	// this long.
	WhenWaitingFor time.Duration `yaml:"whenWaitingFor"`
	// Cooldown is how long after a worker was asked for the next one may
	// be (the time a new worker takes to join); 0 means WhenWaitingFor.
	Cooldown time.Duration `yaml:"cooldown"`
	// MaxWorkers bounds the tag's registered workers (0: no bound).
	MaxWorkers int         `yaml:"maxWorkers"`
	Hook       ScalingHook `yaml:",inline"`
}

// ScalingDown says when to drain and stop one worker.
type ScalingDown struct {
	// WhenIdleFor: stop a worker that has run no job for this long, while
	// no job of the tag has waited for as long.
	WhenIdleFor time.Duration `yaml:"whenIdleFor"`
	// MinWorkers is how many enabled workers of the tag stay (nil:
	// DefaultScalingMinWorkers).
	MinWorkers *int `yaml:"minWorkers"`
	// DrainTimeout bounds the wait for the drained worker to hold no job,
	// and then to leave after its hook (0: DefaultScalingDrainTimeout).
	DrainTimeout time.Duration `yaml:"drainTimeout"`
	Hook         ScalingHook   `yaml:",inline"`
}

// ScalingHook is what the scaler calls: a command line run with
// /bin/sh -c, or a URL it POSTs to.
type ScalingHook struct {
	Exec    string `yaml:"exec"`
	Webhook string `yaml:"webhook"`
	// Timeout bounds one call (0: DefaultScalingHookTimeout).
	Timeout time.Duration `yaml:"timeout"`
}

// WithDefaults returns the policy with every optional field that is not
// set at its default.
func (p ScalingPolicy) WithDefaults() ScalingPolicy {
	if p.Up != nil {
		u := *p.Up
		if u.Cooldown <= 0 {
			u.Cooldown = u.WhenWaitingFor
		}
		u.Hook = u.Hook.withDefaults()
		p.Up = &u
	}
	if p.Down != nil {
		d := *p.Down
		if d.MinWorkers == nil {
			n := DefaultScalingMinWorkers
			d.MinWorkers = &n
		}
		if d.DrainTimeout <= 0 {
			d.DrainTimeout = DefaultScalingDrainTimeout
		}
		d.Hook = d.Hook.withDefaults()
		p.Down = &d
	}
	return p
}

func (h ScalingHook) withDefaults() ScalingHook {
	if h.Timeout <= 0 {
		h.Timeout = DefaultScalingHookTimeout
	}
	return h
}

// checkScaling returns the problems of the scaling section, each naming
// its field (scaling.TAG.up.exec), by tag.
func (c *Config) checkScaling() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &job.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if len(c.Scaling) > 0 && c.HasRole(RoleMaster) && !c.Clustered() {
		bad("scaling", "the workers a hook starts join the master through gossip: give the master --gossip-addr")
	}
	for _, tag := range sortedKeys(c.Scaling) {
		p := c.Scaling[tag]
		field := "scaling." + tag
		if strings.TrimSpace(tag) == "" {
			bad("scaling", "a tag must not be empty (%q names every worker)", "*")
			continue
		}
		if p.Up == nil && p.Down == nil {
			bad(field, "give up, down or both")
		}
		if u := p.Up; u != nil {
			if u.WhenWaitingFor <= 0 {
				bad(field+".up.whenWaitingFor", "must be positive, such as 30s")
			}
			if u.Cooldown < 0 {
				bad(field+".up.cooldown", "must be 0 (whenWaitingFor) or positive, got %s", u.Cooldown)
			}
			if u.MaxWorkers < 0 {
				bad(field+".up.maxWorkers", "must be 0 (no bound) or positive, got %d", u.MaxWorkers)
			}
			errs = append(errs, u.Hook.check(field+".up")...)
		}
		if d := p.Down; d != nil {
			if d.WhenIdleFor <= 0 {
				bad(field+".down.whenIdleFor", "must be positive, such as 10m")
			}
			if d.MinWorkers != nil && *d.MinWorkers < 0 {
				bad(field+".down.minWorkers", "must be 0 or more, got %d", *d.MinWorkers)
			}
			if d.DrainTimeout < 0 {
				bad(field+".down.drainTimeout", "must be 0 (%s) or positive, got %s", DefaultScalingDrainTimeout, d.DrainTimeout)
			}
			if keep := *p.WithDefaults().Down.MinWorkers; p.Up != nil && p.Up.MaxWorkers > 0 && keep > p.Up.MaxWorkers {
				bad(field+".down.minWorkers", "%d is above up.maxWorkers %d", keep, p.Up.MaxWorkers)
			}
			errs = append(errs, d.Hook.check(field+".down")...)
		}
	}
	return errs
}

// check returns the problems of a hook under field (scaling.TAG.up).
func (h *ScalingHook) check(field string) []error {
	var errs []error
	bad := func(f, format string, args ...any) {
		errs = append(errs, &job.FieldError{Field: f, Msg: fmt.Sprintf(format, args...)})
	}
	exec, hook := strings.TrimSpace(h.Exec) != "", h.Webhook != ""
	switch {
	case exec && hook:
		bad(field+".exec", "give exec or webhook, not both")
	case !exec && !hook && h.Exec != "":
		bad(field+".exec", "must not be blank")
	case !exec && !hook:
		bad(field+".exec", "give exec (a command line for /bin/sh -c) or webhook (a URL)")
	case hook:
		u, err := url.Parse(h.Webhook)
		switch {
		case err != nil:
			bad(field+".webhook", "not a URL") // url's error repeats the URL, which may hold a secret
		case u.Scheme != "http" && u.Scheme != "https":
			bad(field+".webhook", "must be an http:// or https:// URL, got scheme %q", u.Scheme)
		case u.Host == "":
			bad(field+".webhook", "must name a host")
		}
	}
	if h.Timeout < 0 || h.Timeout > MaxScalingHookTimeout {
		bad(field+".timeout", "must be between 0 (%s) and %s, got %s", DefaultScalingHookTimeout, MaxScalingHookTimeout, h.Timeout)
	}
	return errs
}
