//go:build !linux

package devstack

import (
	"io/fs"
	"syscall"
)

// supported reports whether devstack can run on this platform.
const supported = false

func sysProcAttr(*account) *syscall.SysProcAttr { return nil }

func signalProcess(int, syscall.Signal) {}

func killGroup(int) {}

func searchable(fs.FileInfo, *account) bool { return true }

func runningPostmaster(string) int { return 0 }
