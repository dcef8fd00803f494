package main

import (
	"bytes"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// memoryGuardMiB is the default -rss-guard: half the memory available
// now, at most 12 GiB, so that a flood cannot starve the machine.
func memoryGuardMiB() int {
	const most = 12 << 10
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return most
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			var kib int
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kib); err == nil {
				return min(most, kib/2/1024)
			}
		}
	}
	return most
}

// memWatch samples a process's resident memory every 10 ms until finish.
type memWatch struct {
	stop, done chan struct{}
	peak       int // KiB
	samples    int
	tripped    bool // the guard fired
}

// watchMemory starts sampling VmRSS of pid; when it passes guardKiB, kill
// is called once.
func watchMemory(pid, guardKiB int, kill func()) *memWatch {
	w := &memWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, err := residentKiB(pid); err == nil {
				w.peak, w.samples = max(w.peak, rss), w.samples+1
				if rss > guardKiB && !w.tripped {
					w.tripped = true
					kill()
				}
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// finish stops sampling and returns the highest VmRSS seen, the number of
// samples and whether the guard fired.
func (w *memWatch) finish() (peakKiB, samples int, tripped bool) {
	close(w.stop)
	<-w.done
	return w.peak, w.samples, w.tripped
}

// procStat reads the parent pid and the CPU time used (user plus system,
// in clock ticks) from /proc/PID/stat.
func procStat(pid int) (ppid, ticks int, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its closing parenthesis, from field 3 (state).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return ppid, utime + stime, nil
}

// waitQuiet waits, at most limit, until pid uses less than a tenth of a
// core over half a second, and returns how long that took. A console may
// go on hashing after its clients have given up.
func waitQuiet(pid int, limit time.Duration) time.Duration {
	t0 := time.Now()
	_, last, err := procStat(pid)
	for err == nil && time.Since(t0) < limit {
		time.Sleep(500 * time.Millisecond)
		var now int
		if _, now, err = procStat(pid); err == nil && now-last < 5 { // 5 ticks = 50 ms
			break
		}
		last = now
	}
	return time.Since(t0)
}

// descendants returns the pids of every process below root.
func descendants(root int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, err := procStat(pid); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	for queue := children[root]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

// frozen holds the processes stopped by freeze and not yet resumed, so
// that an interrupted benchmark never leaves a server stopped.
var frozen struct {
	mu   sync.Mutex
	pids []int
}

// freeze stops root with SIGSTOP and then, when withChildren is set, every
// process below it (a stopped postmaster cannot start new ones). It
// returns the stopped pids, root first.
func freeze(root int, withChildren bool) ([]int, error) {
	if err := syscall.Kill(root, syscall.SIGSTOP); err != nil {
		return nil, fmt.Errorf("SIGSTOP %d: %w", root, err)
	}
	pids := []int{root}
	if withChildren {
		for _, pid := range descendants(root) {
			if syscall.Kill(pid, syscall.SIGSTOP) == nil {
				pids = append(pids, pid)
			}
		}
	}
	frozen.mu.Lock()
	frozen.pids = append(frozen.pids, pids...)
	frozen.mu.Unlock()
	return pids, nil
}

// thaw resumes pids with SIGCONT, the children before their parent.
func thaw(pids []int) {
	frozen.mu.Lock()
	defer frozen.mu.Unlock()
	for _, pid := range slices.Backward(pids) {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		frozen.pids = slices.DeleteFunc(frozen.pids, func(p int) bool { return p == pid })
	}
}

// onInterrupt makes SIGINT and SIGTERM resume any stopped server, stop
// the running consoles, run cleanup and exit with status 1. The returned
// function undoes it.
func onInterrupt(cleanup func()) (undo func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			frozen.mu.Lock()
			stopped := slices.Clone(frozen.pids)
			frozen.mu.Unlock()
			thaw(stopped)
			killConsoles()
			cleanup()
			fmt.Fprintf(os.Stderr, "loadgen: %v: stopped\n", sig)
			os.Exit(1)
		case <-done:
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
