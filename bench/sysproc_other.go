//go:build !linux

package bench

import (
	"os"
	"syscall"
)

// childSysProcAttr returns nil: process groups are only used on Linux.
func childSysProcAttr() *syscall.SysProcAttr { return nil }

// signalGroup sends sig to pid alone.
func signalGroup(pid int, sig syscall.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(sig)
}
