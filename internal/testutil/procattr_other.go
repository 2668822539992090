//go:build !linux

package testutil

import "syscall"

// procAttr puts a helper process in its own process group. Outside Linux
// there is no parent-death signal: a helper can outlive a test binary that
// is killed.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
