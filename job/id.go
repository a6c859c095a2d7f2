package job

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// NewID returns a new job id: time-ordered and unique,
// 20060102-150405.000-<8 hex> (docs/design.md §2.4).
func NewID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102-150405.000") + "-" + hex.EncodeToString(b[:])
}
