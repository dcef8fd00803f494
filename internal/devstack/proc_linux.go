//go:build linux

package devstack

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// supported reports whether devstack can run on this platform.
const supported = true

// sysProcAttr puts the child in its own process group (so a Ctrl-C aimed at
// the terminal's foreground group does not reach it before Stop does), has
// the kernel SIGKILL it when its parent thread dies, and runs it as user
// when that is set.
func sysProcAttr(user *account) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	if user != nil {
		attr.Credential = &syscall.Credential{Uid: uint32(user.uid), Gid: uint32(user.gid)}
	}
	return attr
}

// signalProcess sends sig to the process pid.
func signalProcess(pid int, sig syscall.Signal) {
	_ = syscall.Kill(pid, sig)
}

// killGroup SIGKILLs every process in the process group led by pid.
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// searchable reports whether a can search the directory described by fi.
func searchable(fi fs.FileInfo, a *account) bool {
	perm := fi.Mode().Perm()
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	switch {
	case int(st.Uid) == a.uid:
		return perm&0o100 != 0
	case int(st.Gid) == a.gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// runningPostmaster returns the pid recorded in the postmaster.pid file at
// path when that process is alive and is a postgres process, and 0
// otherwise (no file, stale file, or a recycled pid).
func runningPostmaster(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return 0
	}
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
		return 0
	}
	return pid
}
