package store

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadCursor is returned by ListJobs when the cursor was not produced by
// a previous page.
var ErrBadCursor = errors.New("invalid cursor")

// jobCursor is the position after the last job of a page: jobs are listed
// by (created_at, id) descending.
type jobCursor struct {
	createdMs int64
	id        string
}

// encode returns the opaque form of the cursor.
func (c jobCursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.createdMs, 10) + ":" + c.id))
}

// decodeJobCursor parses a cursor produced by encode.
func decodeJobCursor(s string) (jobCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return jobCursor{}, fmt.Errorf("%w %q", ErrBadCursor, s)
	}
	ms, id, ok := strings.Cut(string(b), ":")
	if !ok {
		return jobCursor{}, fmt.Errorf("%w %q", ErrBadCursor, s)
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return jobCursor{}, fmt.Errorf("%w %q", ErrBadCursor, s)
	}
	return jobCursor{createdMs: n, id: id}, nil
}
