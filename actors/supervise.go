package actors

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/asynkron/protoactor-go/actor"
)

// Supervision. proto.actor's default for a panicking actor is to restart
// it: the master would come back with an empty queue, no leases and no
// jobs, while its previous life's writer, reader and ticker goroutines ran
// on. salvo never restarts an actor in place. A panic in the master or a
// worker is recovered in its Receive, logged with its stack, reported to the
// engine (Engine.Crashed), and the actor is stopped, which runs its normal
// stop path (goroutines closed, queued writes flushed). The node then exits
// non-zero (internal/server); at the next start every unfinished job
// resumes from the store and no stored target runs again.

// Crash is a panic of one of the node's actors.
type Crash struct {
	// Actor is "master" or "worker".
	Actor string
	// Reason is the value the actor panicked with.
	Reason any
	// Message is the type of the message the actor was handling.
	Message string
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

// Error implements error.
func (c *Crash) Error() string {
	return fmt.Sprintf("%s actor panicked handling %s: %v", c.Actor, c.Message, c.Reason)
}

// guard is deferred at the top of an actor's Receive: it recovers a panic,
// logs it with its stack, tells crashed, and stops the actor.
func guard(ctx actor.Context, name string, logger *slog.Logger, crashed func(*Crash)) {
	r := recover()
	if r == nil {
		return
	}
	c := &Crash{Actor: name, Reason: r, Message: fmt.Sprintf("%T", ctx.Message()), Stack: debug.Stack()}
	logger.Error("actor panicked: stopping it; the node exits and its jobs resume from the store at the next start",
		"actor", name, "message", c.Message, "panic", fmt.Sprint(r), "stack", string(c.Stack))
	if crashed != nil {
		crashed(c)
	}
	if _, stopping := ctx.Message().(*actor.Stopping); !stopping {
		ctx.Stop(ctx.Self())
	}
}

// crashNow makes an actor panic with reason: the fault tests inject
// through it. It is not a wire message, so no other node can send it.
type crashNow struct{ reason string }

// forgetWorker makes the master drop a worker's registration as if it had
// restarted (a test's injected fault; not a wire message either).
type forgetWorker struct{ name string }

// dropJobStarts makes a worker drop its next n JobStarts, as if they had
// been lost on the way (a test's injected fault; not a wire message).
type dropJobStarts struct{ n int }
