package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// requestTimeout bounds every request of the resilience phases; a request
// that takes longer is counted as "timeout".
const requestTimeout = 15 * time.Second

// goalMissed marks a figure that misses its goal.
const goalMissed = "GOAL MISSED"

// clientFrom returns an HTTP client whose connections leave from the
// loopback address ip (any of 127.0.0.0/8), so the console sees ip as the
// client address. It never follows redirects and gives up after timeout.
func clientFrom(ip net.IP, timeout time.Duration) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: timeout}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// loopback returns the address 127.a.b.c.
func loopback(a, b, c byte) net.IP { return net.IPv4(127, a, b, c) }

// outcome names how a request ended: its status code, "timeout" or
// "error". It drains and closes the body.
func outcome(resp *http.Response, err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case err != nil:
		return "error"
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	return strconv.Itoa(resp.StatusCode)
}

// tally counts outcomes; it is safe for concurrent use.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *tally) add(o string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[string]int{}
	}
	t.n[o]++
}

// get returns the count of outcome o.
func (t *tally) get(o string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n[o]
}

// except sums every outcome but the named ones, and lists them.
func (t *tally) except(named ...string) (int, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sum, parts := 0, []string{}
	for _, k := range sortedKeys(t.n) {
		if !slices.Contains(named, k) {
			sum += t.n[k]
			parts = append(parts, fmt.Sprintf("%s×%d", k, t.n[k]))
		}
	}
	return sum, strings.Join(parts, " ")
}

// String lists every outcome with its count, status codes first.
func (t *tally) String() string {
	_, s := t.except()
	return s
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // digits sort before "error" and "timeout"
	return keys
}

// short formats a latency for a closing note: milliseconds below 10 s,
// rounded to 0.1 ms below 10 ms.
func short(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d < 10*time.Second:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

// mib formats KiB as MiB.
func mib(kib int) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// verdict is "" when ok and the goal-missed marker with the goal otherwise.
func verdict(ok bool, goal string) string {
	if ok {
		return ""
	}
	return "  " + goalMissed + " (goal: " + goal + ")"
}
