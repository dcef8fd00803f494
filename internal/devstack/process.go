package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// spawnRequest asks the spawner goroutine to start cmd.
type spawnRequest struct {
	cmd  *exec.Cmd
	errc chan error
}

var (
	spawnOnce sync.Once
	spawnCh   chan spawnRequest
)

// spawn starts cmd from the spawner goroutine. That goroutine is locked to
// its OS thread and never returns, so the thread that is the parent of every
// child (and whose exit would fire the children's parent-death signal) lives
// as long as the process does.
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnRequest)
		go spawnLoop(spawnCh)
	})
	req := spawnRequest{cmd: cmd, errc: make(chan error, 1)}
	spawnCh <- req
	return <-req.errc
}

func spawnLoop(reqs <-chan spawnRequest) {
	// Deliberately never unlocked: the goroutine keeps this thread for
	// itself until the process exits.
	runtime.LockOSThread()
	for req := range reqs {
		req.errc <- req.cmd.Start()
	}
}

// procSpec describes a server process to start.
type procSpec struct {
	name    string   // service name used in messages
	path    string   // binary
	args    []string // arguments, without the binary
	dir     string   // working directory
	logPath string   // receives stdout and stderr
	user    *account // run as this user, nil for the current user
	stopSig syscall.Signal
}

// process is a running (or exited) child.
type process struct {
	name    string
	logPath string
	stopSig syscall.Signal
	pid     int
	done    chan struct{} // closed once the process has been waited for
	waitErr error         // valid after done is closed
}

// startProcess starts spec and returns without waiting for the child to
// become ready.
func startProcess(spec procSpec) (*process, error) {
	logf, err := os.OpenFile(spec.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	if err := spec.user.chown(spec.logPath); err != nil {
		return nil, err
	}
	cmd := exec.Command(spec.path, spec.args...)
	cmd.Dir = spec.dir
	cmd.Env = childEnv(spec.user)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr(spec.user)
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.path, err)
	}
	p := &process{
		name:    spec.name,
		logPath: spec.logPath,
		stopSig: spec.stopSig,
		pid:     cmd.Process.Pid,
		done:    make(chan struct{}),
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// childEnv is the environment of the servers: ours without libpq variables
// (which could redirect initdb or postgres), with the C locale, and with the
// identity of user when it is set.
func childEnv(user *account) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PG"), strings.HasPrefix(k, "LC_"), k == "LANG", k == "LANGUAGE":
			continue
		case user != nil && (k == "HOME" || k == "USER" || k == "LOGNAME"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "LANG=C", "LC_ALL=C")
	if user != nil {
		env = append(env, "HOME="+user.home, "USER="+user.name, "LOGNAME="+user.name)
	}
	return env
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to exit and returns its exit error.
func (p *process) wait() error {
	<-p.done
	return p.waitErr
}

// errExited is returned by waitReady when the process exits before it
// becomes ready.
var errExited = errors.New("exited before becoming ready")

// waitReady calls check until it succeeds, the process exits or ctx is done.
func (p *process) waitReady(ctx context.Context, check func(context.Context) error) error {
	delay := 20 * time.Millisecond
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("%w (%v)", errExited, p.waitErr)
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(actx)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		t := time.NewTimer(delay)
		select {
		case <-p.done:
			t.Stop()
			return fmt.Errorf("%w (%v)", errExited, p.waitErr)
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("not ready in time: %w; last error: %v", ctx.Err(), last)
		case <-t.C:
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

// stop sends the process its stop signal, waits up to timeout for it to
// exit, then kills its whole process group. It returns an error when the
// process had to be killed or had already exited on its own.
func (p *process) stop(timeout time.Duration) error {
	if p.exited() {
		killGroup(p.pid)
		return fmt.Errorf("devstack: %s had already exited (%v)%s", p.name, p.waitErr, logTails(p.logPath))
	}
	signalProcess(p.pid, p.stopSig)
	t := time.NewTimer(timeout)
	defer t.Stop()
	var err error
	select {
	case <-p.done:
	case <-t.C:
		killGroup(p.pid)
		<-p.done
		err = fmt.Errorf("devstack: %s did not stop within %v and was killed", p.name, timeout)
	}
	// Take down anything the server left behind in its process group.
	killGroup(p.pid)
	return err
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// fileSize returns the size of path, or 0 when it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// portInUse reports whether the log written to path after offset says the
// listening port was taken.
func portInUse(path string, offset int64) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return false
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return bytes.Contains(b, []byte("Address already in use"))
}

// tail returns the last lines of the file at path (at most maxLines lines
// from its last 8 KiB).
func tail(path string, maxLines int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	const maxBytes = 8 << 10
	size := fileSize(path)
	start := max(size-maxBytes, 0)
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	b, _ := io.ReadAll(f)
	if start > 0 {
		// Drop the partial first line.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	s := strings.Join(lines, "\n")
	if strings.TrimSpace(s) == "" {
		return "(log is empty)"
	}
	return s
}

// logTails formats the tails of the given log files for an error message.
func logTails(paths ...string) string {
	var sb strings.Builder
	for _, p := range paths {
		if p == "" {
			continue
		}
		fmt.Fprintf(&sb, "\n--- last lines of %s ---\n%s", p, tail(p, 30))
	}
	return sb.String()
}
