package bench

import "syscall"

// childSysProcAttr puts a child in its own process group, so that a
// terminal's SIGINT reaches only the bench (which then stops the child) and
// signalGroup reaches the child's own children too, and kills it if the
// bench dies first.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends sig to the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) error {
	return syscall.Kill(-pid, sig)
}
