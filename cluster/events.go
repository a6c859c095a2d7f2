package cluster

import (
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// pendingWarn is the number of undelivered events at which the event loop
// first warns that the caller does not read its channel.
const pendingWarn = 1024

// leaveIntentTTL is how long a leave notice for a member not known yet is
// kept, waiting for the gossip that introduces that member.
const leaveIntentTTL = 30 * time.Second

// run is the event loop: it applies what memberlist reported to the member
// table and delivers the resulting events to the caller's channel. Only
// this goroutine blocks on the caller; memberlist's callbacks only queue.
func (c *Cluster) run() {
	var pending []Event
	warnAt := pendingWarn
	for {
		var out chan<- Event
		var next Event
		if len(pending) > 0 {
			out, next = c.events, pending[0]
		}
		select {
		case <-c.in.signal:
			for _, in := range c.in.drain() {
				if ev, ok := c.apply(in, time.Now()); ok && c.events != nil {
					pending = append(pending, ev)
				}
				if in.kind == inLeaveIntent {
					c.ackLeave(in.name, in.addr)
				}
			}
			if len(pending) >= warnAt {
				c.log.Warn("membership events are not being read", slog.Int("pending", len(pending)))
				warnAt *= 2
			}
		case out <- next:
			pending[0] = Event{}
			pending = pending[1:]
			if len(pending) == 0 {
				pending, warnAt = nil, pendingWarn
			}
		case <-c.shutdownCh:
			return
		}
	}
}

// apply updates the member table with one input and returns the event to
// deliver, if any.
func (c *Cluster) apply(in input, now time.Time) (Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()

	switch in.kind {
	case inJoin:
		m, err := memberFromNode(&in.node, StateAlive)
		if err != nil {
			c.log.Warn("member metadata unreadable", slog.String("member", in.node.Name), slog.String("err", err.Error()))
		}
		st := &memberState{Member: m, changed: now}
		if at, ok := c.intents[m.Meta.Name]; ok {
			// The leave notice overtook the gossip about this member.
			delete(c.intents, m.Meta.Name)
			st.leaving = now.Sub(at) <= leaveIntentTTL
		}
		c.members[m.Meta.Name] = st
		c.log.Info("member joined", slog.String("member", m.Meta.Name), slog.String("addr", m.Addr),
			slog.Any("roles", m.Meta.Roles))
		return Event{Type: Joined, Member: m.clone()}, true

	case inUpdate:
		m, err := memberFromNode(&in.node, StateAlive)
		if err != nil {
			c.log.Warn("member metadata unreadable", slog.String("member", in.node.Name), slog.String("err", err.Error()))
		}
		st := c.members[m.Meta.Name]
		if st == nil {
			st = &memberState{changed: now}
			c.members[m.Meta.Name] = st
		}
		st.Member = m
		c.log.Debug("member updated", slog.String("member", m.Meta.Name))
		return Event{Type: Updated, Member: m.clone()}, true

	case inLeave:
		st := c.members[in.node.Name]
		if st == nil {
			m, _ := memberFromNode(&in.node, StateAlive)
			st = &memberState{Member: m}
			if _, ok := c.intents[in.node.Name]; ok {
				delete(c.intents, in.node.Name)
				st.leaving = true
			}
			c.members[in.node.Name] = st
		}
		if st.State == StateDead || st.State == StateLeft {
			return Event{}, false
		}
		typ := Failed
		st.State = StateDead
		if st.leaving || (in.node.Name == c.cfg.Name && c.leaving.Load()) {
			typ, st.State = Left, StateLeft
		}
		st.changed = now
		if typ == Failed {
			c.log.Warn("member failed", slog.String("member", st.Meta.Name), slog.String("addr", st.Addr))
		} else {
			c.log.Info("member left", slog.String("member", st.Meta.Name))
		}
		c.pruneLocked(now)
		return Event{Type: typ, Member: st.Member.clone()}, true

	case inLeaveIntent:
		st := c.members[in.name]
		if st == nil {
			c.intents[in.name] = now
			return Event{}, false
		}
		switch st.State {
		case StateAlive, StateSuspect:
			st.leaving = true
		case StateDead:
			// memberlist's leave overtook the notice: correct Failed to Left.
			st.State, st.changed = StateLeft, now
			c.log.Info("member left (reported failed first)", slog.String("member", st.Meta.Name))
			return Event{Type: Left, Member: st.Member.clone()}, true
		}
	}
	return Event{}, false
}

// pruneLocked forgets members dead or left for longer than
// Config.DeadMemberRetention, and stale leave notices. c.mu must be held.
func (c *Cluster) pruneLocked(now time.Time) {
	for name, at := range c.intents {
		if now.Sub(at) > leaveIntentTTL {
			delete(c.intents, name)
		}
	}
	for name, st := range c.members {
		if (st.State == StateDead || st.State == StateLeft) && now.Sub(st.changed) > c.cfg.DeadMemberRetention {
			delete(c.members, name)
		}
	}
}

// ackLeave acknowledges a leave notice to the leaving node at addr
// ("ip:port"), in the background. The notice is already recorded when the
// ack leaves.
func (c *Cluster) ackLeave(name, addr string) {
	host, port, err := splitHostPort(addr, -1)
	if err != nil {
		c.log.Debug("leave notice without a usable address", slog.String("member", name), slog.String("addr", addr))
		return
	}
	to := memberlist.Node{Name: name, Addr: net.ParseIP(host), Port: uint16(port)}
	msg := append([]byte{msgLeaveAck}, c.cfg.Name...)
	c.goFunc(func() {
		if err := c.ml.SendReliable(&to, msg); err != nil {
			c.log.Debug("leave ack not delivered", slog.String("member", name), slog.String("err", err.Error()))
		}
	})
}
