//go:build !unix

package store

import "os"

// lockFile does nothing where flock is not available: the data dir is
// not guarded there.
func lockFile(*os.File) error { return nil }
