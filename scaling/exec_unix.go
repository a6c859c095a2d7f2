//go:build unix

package scaling

import (
	"os/exec"
	"syscall"
)

// killGroup runs cmd in a process group of its own, killed as a whole
// when the command's context ends: what the hook started goes with it.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
