package actors

import (
	"time"

	"github.com/salvo-sh/salvo/actors/wire"
	"github.com/salvo-sh/salvo/commands"
)

// Conversions between package commands' types and the wire messages.

func toWireResult(r *commands.Result) *wire.Result {
	w := &wire.Result{
		Index:              int64(r.Index),
		Host:               r.Host,
		Target:             r.Target,
		State:              r.State,
		StatusCode:         int32(r.StatusCode),
		LatencyMs:          r.LatencyMs,
		Body:               []byte(r.Body),
		Stderr:             []byte(r.Stderr),
		BodyBytes:          r.BodyBytes,
		Truncated:          r.Truncated,
		Error:              r.Error,
		ErrorClass:         r.ErrorClass,
		Attempts:           int32(r.Attempts),
		Worker:             r.Worker,
		Value:              r.Value,
		StartedAtUnixNano:  unixNano(r.StartedAt),
		FinishedAtUnixNano: unixNano(r.FinishedAt),
	}
	if r.ExitCode != nil {
		c := int32(*r.ExitCode)
		w.ExitCode = &c
	}
	return w
}

func fromWireResult(w *wire.Result) commands.Result {
	r := commands.Result{
		Index:      int(w.Index),
		Host:       w.Host,
		Target:     w.Target,
		State:      w.State,
		StatusCode: int(w.StatusCode),
		LatencyMs:  w.LatencyMs,
		Body:       string(w.Body),
		Stderr:     string(w.Stderr),
		BodyBytes:  w.BodyBytes,
		Truncated:  w.Truncated,
		Error:      w.Error,
		ErrorClass: w.ErrorClass,
		Attempts:   int(w.Attempts),
		Worker:     w.Worker,
		Value:      w.Value,
		StartedAt:  fromUnixNano(w.StartedAtUnixNano),
		FinishedAt: fromUnixNano(w.FinishedAtUnixNano),
	}
	if w.ExitCode != nil {
		c := int(*w.ExitCode)
		r.ExitCode = &c
	}
	return r
}

func fromWireResults(ws []*wire.Result) []commands.Result {
	out := make([]commands.Result, len(ws))
	for i, w := range ws {
		out[i] = fromWireResult(w)
	}
	return out
}

func toWireTargets(ts []commands.IndexedTarget) []*wire.Target {
	out := make([]*wire.Target, len(ts))
	for i, t := range ts {
		out[i] = &wire.Target{Index: int64(t.Index), Host: t.Target.Host, Vars: t.Target.Vars}
	}
	return out
}

func fromWireTarget(w *wire.Target) commands.IndexedTarget {
	return commands.IndexedTarget{Index: int(w.Index), Target: commands.TargetSpec{Host: w.Host, Vars: w.Vars}}
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
