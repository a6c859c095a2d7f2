package actors

import "github.com/asynkron/protoactor-go/actor"

// Test hooks for the external test package: they build the unexported
// fault messages that only this package's actors understand.

// CrashNow returns a message that makes the master or a worker panic.
func CrashNow(reason string) any { return &crashNow{reason: reason} }

// ForgetWorker returns a message that makes the master drop a worker's
// registration, as if the master had restarted.
func ForgetWorker(name string) any { return &forgetWorker{name: name} }

// DropJobStarts returns a message that makes a worker drop its next n
// JobStarts, as if they had been lost.
func DropJobStarts(n int) any { return &dropJobStarts{n: n} }

// WorkerPID is the local worker's actor.
func (e *Engine) WorkerPID() *actor.PID { return e.worker.PID() }
