package storagetest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill versitygw if the test process dies
// without stopping it (a test timeout, a panic, a killed go test), so no
// server outlives its tests. Go never retires the OS thread that forks
// unless a goroutine locked to it exits, which test code does not do.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
