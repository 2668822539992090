package testutil

import "syscall"

// procAttr puts a helper process in its own process group (so stopping it
// stops its children) and has the kernel kill it if the test binary dies
// first, so no server outlives a crashed or interrupted test run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
