//go:build unix

package cli

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// openNoFollow makes --outdir's file opens refuse a symbolic link planted
// where a host's file goes.
const openNoFollow = syscall.O_NOFOLLOW

// terminalWidth reports whether w is a terminal and, if it is, its width
// in columns (TIOCGWINSZ; 0 when the terminal does not say).
func terminalWidth(w io.Writer) (cols int, tty bool) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, false
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, false
	}
	return int(ws.Col), true
}
