//go:build !unix

package cli

import (
	"io"
	"os"
)

// openNoFollow is 0 where O_NOFOLLOW does not exist.
const openNoFollow = 0

// terminalWidth reports whether w is a character device; the width is
// unknown (0) on this platform.
func terminalWidth(w io.Writer) (cols int, tty bool) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, false
	}
	fi, err := f.Stat()
	return 0, err == nil && fi.Mode()&os.ModeCharDevice != 0
}
