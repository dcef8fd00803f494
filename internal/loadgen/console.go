package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// consoles are the console processes running now, for killConsoles.
var consoles struct {
	mu  sync.Mutex
	set map[*console]bool
}

// killConsoles kills every running console process.
func killConsoles() {
	consoles.mu.Lock()
	defer consoles.mu.Unlock()
	for c := range consoles.set {
		_ = c.cmd.Process.Kill()
	}
}

// console is one `serve` process of the console under test, watched so
// that the benchmark can tell when it dies.
type console struct {
	cmd  *exec.Cmd
	base string   // http://127.0.0.1:PORT
	log  *os.File // receives the process's standard error
	done chan struct{}
	err  error // the process's exit, valid once done is closed
}

// launch starts serve with env on a free port of 127.0.0.1, its log going
// to a temporary file, and waits for /healthz.
func launch(bin string, env map[string]string) (*console, error) {
	addr := freeAddr()
	_, port, _ := net.SplitHostPort(addr)
	env["HOST"], env["PORT"] = "127.0.0.1", port
	if env["LOG_LEVEL"] == "" {
		env["LOG_LEVEL"] = "error"
	}
	log, err := os.CreateTemp("", "loadgen-console-*.log")
	if err != nil {
		return nil, err
	}
	cmd, err := startServeTo(bin, env, log)
	if err != nil {
		log.Close()
		os.Remove(log.Name())
		return nil, err
	}
	c := &console{cmd: cmd, base: "http://" + addr, log: log, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	consoles.mu.Lock()
	if consoles.set == nil {
		consoles.set = map[*console]bool{}
	}
	consoles.set[c] = true
	consoles.mu.Unlock()
	if _, err := waitHealthy(c.base, 10*time.Second); err != nil {
		b, _ := os.ReadFile(log.Name())
		c.stop()
		return nil, fmt.Errorf("%w; the console's log:\n%s", err, b)
	}
	return c, nil
}

// pid is the console's process id.
func (c *console) pid() int { return c.cmd.Process.Pid }

// alive reports whether the process is still running.
func (c *console) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// death describes how the process ended, with the end of its log.
func (c *console) death() string {
	b, _ := os.ReadFile(c.log.Name())
	text := strings.TrimSpace(string(b))
	if text == "" {
		return fmt.Sprintf("the console process exited (%v); its log is empty", c.err)
	}
	lines := strings.Split(text, "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return fmt.Sprintf("the console process exited (%v); the end of its log:\n    %s", c.err, strings.Join(lines, "\n    "))
}

// stop interrupts the process, kills it when it has not exited after 25 s
// and removes its log.
func (c *console) stop() {
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(25 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.log.Close()
	os.Remove(c.log.Name())
	consoles.mu.Lock()
	delete(consoles.set, c)
	consoles.mu.Unlock()
}
