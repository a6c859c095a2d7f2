package actors

import (
	"time"
	"unsafe"

	"github.com/salvo-sh/salvo/actors/wire"
	"github.com/salvo-sh/salvo/job"
)

// Conversions between package commands' types and the wire messages.
//
// A result's body and stderr are the largest part of every message. Between
// a worker and the master in one process the wire message is never
// marshalled, so the conversions share the bytes instead of copying them
// (twice per result): the []byte of a wire result aliases the string it came
// from and the string of a result aliases the wire result's bytes. Neither
// side ever writes to those bytes: results are immutable once made, and a
// wire result is dropped once converted (proto.Unmarshal gives it bytes of
// its own when it came over the network).

// bytesOf returns the bytes of s without copying; they must not be written.
func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// stringOf returns b as a string without copying; b must not be written
// afterwards.
func stringOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func toWireResult(r *job.Result) *wire.Result {
	w := &wire.Result{
		Index:              int64(r.Index),
		Host:               r.Host,
		Target:             r.Target,
		State:              r.State,
		StatusCode:         int32(r.StatusCode),
		LatencyMs:          r.LatencyMs,
		Body:               bytesOf(r.Body),
		Stderr:             bytesOf(r.Stderr),
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

func fromWireResult(w *wire.Result) job.Result {
	r := job.Result{
		Index:      int(w.Index),
		Host:       w.Host,
		Target:     w.Target,
		State:      w.State,
		StatusCode: int(w.StatusCode),
		LatencyMs:  w.LatencyMs,
		Body:       stringOf(w.Body),
		Stderr:     stringOf(w.Stderr),
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

func fromWireResults(ws []*wire.Result) []job.Result {
	out := make([]job.Result, len(ws))
	for i, w := range ws {
		out[i] = fromWireResult(w)
	}
	return out
}

func toWireTargets(ts []job.IndexedTarget) []*wire.Target {
	out := make([]*wire.Target, len(ts))
	for i, t := range ts {
		out[i] = &wire.Target{Index: int64(t.Index), Host: t.Target.Host, Vars: t.Target.Vars}
	}
	return out
}

func fromWireTarget(w *wire.Target) job.IndexedTarget {
	return job.IndexedTarget{Index: int(w.Index), Target: job.TargetSpec{Host: w.Host, Vars: w.Vars}}
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
