package httpapi

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// errSlowBody is the error of a request body sent too slowly.
var errSlowBody = errors.New("request body sent too slowly")

// slowBody cuts a request body that stalls or trickles: each read must
// bring data within idle, and once grace has passed the body must have
// come at minRate bytes per second on average. It moves the connection's
// read deadline forward as data arrives (a stalled read then fails in the
// kernel, not in a goroutine of ours).
type slowBody struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	n       int64
	idle    time.Duration
	grace   time.Duration
	minRate float64
	failed  bool
}

func newSlowBody(w http.ResponseWriter, body io.ReadCloser, idle, grace time.Duration, minRate float64) *slowBody {
	return &slowBody{body: body, rc: http.NewResponseController(w), start: time.Now(),
		idle: idle, grace: grace, minRate: minRate}
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.failed {
		return 0, errSlowBody
	}
	now := time.Now()
	if el := now.Sub(b.start); el > b.grace && float64(b.n) < b.minRate*el.Seconds() {
		return 0, b.fail()
	}
	// The deadline holds only while a read waits for data: between reads,
	// and once the handler is done with the body, the server's own
	// reads (for the next request, or to notice a client gone) must not
	// meet it. Not every writer supports deadlines; then only the rate
	// holds.
	_ = b.rc.SetReadDeadline(now.Add(b.idle))
	n, err := b.body.Read(p)
	b.n += int64(n)
	_ = b.rc.SetReadDeadline(time.Time{})
	var ne interface{ Timeout() bool }
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		return n, b.fail()
	}
	return n, err
}

// fail marks the body failed and ends reading it: the server would
// otherwise read on (discarding the rest of the body before it answers)
// at the client's pace.
func (b *slowBody) fail() error {
	b.failed = true
	_ = b.rc.SetReadDeadline(time.Now())
	return errSlowBody
}

func (b *slowBody) Close() error { return b.body.Close() }
