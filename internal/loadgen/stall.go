package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Goals of the stalls (issue 11).
const (
	stallP99Goal = 1500 * time.Millisecond
	recoveryGoal = 5 * time.Second
)

const (
	// stallPause is each admin's pause between two screens.
	stallPause = 100 * time.Millisecond
	// recoveryLimit bounds the wait for normal answers after SIGCONT.
	recoveryLimit = 30 * time.Second
	// probeTimeout bounds each request of the recovery check.
	probeTimeout = 5 * time.Second
)

// stallSpec is one server stalled with SIGSTOP while admins browse.
type stallSpec struct {
	name     string
	root     int  // the server's pid
	children bool // stop every process below root too
}

// sample is one screen load.
type sample struct {
	path    string
	took    time.Duration
	outcome string
}

// stallRun starts a fresh console with env, signs an admin in, stalls s
// for span while one admin per screen loads paths, resumes it and checks
// that the console answers as before within recoveryGoal. It prints the
// figures and returns a description of the console's death, or "".
func stallRun(bin string, env map[string]string, s stallSpec, paths []string, span time.Duration) (string, error) {
	c, err := launch(bin, env)
	if err != nil {
		return "", err
	}
	defer c.stop()
	cookie, err := signIn(c.base)
	if err != nil {
		return "", err
	}
	hc := clientFrom(loopback(0, 0, 1), requestTimeout)
	defer hc.CloseIdleConnections()
	normal, err := baseline(hc, c.base, cookie, paths)
	if err != nil {
		return "", err
	}
	pids, err := freeze(s.root, s.children)
	if err != nil {
		return "", err
	}
	end := time.Now().Add(span)
	loads := make(chan []sample, 1)
	go func() { loads <- browseUntil(hc, c.base, cookie, paths, end) }()
	time.Sleep(time.Until(end))
	thaw(pids)
	back, recovered, last := recovery(c, cookie, paths, normal)
	printStall(s, len(pids), span, paths, <-loads)
	printRecovery(back, recovered, last)
	if c.alive() {
		return "", nil
	}
	return c.death(), nil
}

// load fetches path once with the session cookie and times it.
func load(hc *http.Client, base, cookie, path string) sample {
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Cookie", cookie)
	t0 := time.Now()
	o := outcome(hc.Do(req))
	return sample{path: path, took: time.Since(t0), outcome: o}
}

// baseline loads every screen once before the stall, prints the answers
// and returns them as each screen's normal answer.
func baseline(hc *http.Client, base, cookie string, paths []string) (map[string]string, error) {
	normal := map[string]string{}
	var parts []string
	for _, p := range paths {
		s := load(hc, base, cookie, p)
		if s.outcome == "timeout" || s.outcome == "error" {
			return nil, fmt.Errorf("%s before the stall: %s", p, s.outcome)
		}
		normal[p] = s.outcome
		parts = append(parts, fmt.Sprintf("%s %s %s", p, s.outcome, short(s.took)))
	}
	fmt.Printf("before the stall: %s\n", strings.Join(parts, ", "))
	return normal, nil
}

// browseUntil has as many admins as there are paths load them in turn,
// each starting at a different screen, until end; requests under way at end run to their
// answer or timeout.
func browseUntil(hc *http.Client, base, cookie string, paths []string, end time.Time) []sample {
	var mu sync.Mutex
	var all []sample
	var wg sync.WaitGroup
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; time.Now().Before(end); j++ {
				s := load(hc, base, cookie, paths[j%len(paths)])
				mu.Lock()
				all = append(all, s)
				mu.Unlock()
				time.Sleep(min(stallPause, max(0, time.Until(end))))
			}
		}()
	}
	wg.Wait()
	return all
}

// recovery loads every screen of c at once, again and again from
// SIGCONT, until each answers as it did before the stall, recoveryLimit
// passes or the console dies. It returns the time from SIGCONT to the
// first normal round, whether there was one, and the last abnormal
// answers.
func recovery(c *console, cookie string, paths []string, normal map[string]string) (time.Duration, bool, string) {
	hc := clientFrom(loopback(0, 0, 1), probeTimeout)
	defer hc.CloseIdleConnections()
	t0 := time.Now()
	last := ""
	for time.Since(t0) < recoveryLimit && c.alive() {
		round := make([]sample, len(paths))
		var wg sync.WaitGroup
		for i, p := range paths {
			wg.Add(1)
			go func() { defer wg.Done(); round[i] = load(hc, c.base, cookie, p) }()
		}
		wg.Wait()
		var wrong []string
		for _, s := range round {
			if s.outcome != normal[s.path] {
				wrong = append(wrong, s.path+" "+s.outcome)
			}
		}
		if len(wrong) == 0 {
			return time.Since(t0), true, ""
		}
		last = strings.Join(wrong, ", ")
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(t0), false, last
}

// printStall prints, per screen, the loads started during the stall.
func printStall(s stallSpec, stopped int, span time.Duration, paths []string, loads []sample) {
	what := "SIGSTOP on redis-server"
	if s.children {
		what = fmt.Sprintf("SIGSTOP on the postmaster and its %d children", stopped-1)
	}
	fmt.Printf("%s stalled for %s (%s), %d admins loading every screen, %s pause, %s timeout:\n",
		s.name, span, what, len(paths), stallPause, requestTimeout)
	width := 0
	for _, p := range paths {
		width = max(width, len(p))
	}
	fmt.Printf("  %-*s %5s  %-28s %9s %9s %9s\n", width, "screen", "n", "answers", "p50", "p99", "max")
	for _, p := range paths {
		var lat []time.Duration
		t := &tally{}
		for _, l := range loads {
			if l.path == p {
				lat = append(lat, l.took)
				t.add(l.outcome)
			}
		}
		if len(lat) == 0 {
			fmt.Printf("  %-*s %5d  (no load finished)%s\n", width, p, 0, verdict(false, "p99 < 1.5 s"))
			continue
		}
		slices.Sort(lat)
		p99 := pct(lat, 99)
		fmt.Printf("  %-*s %5d  %-28s %9s %9s %9s%s\n", width, p, len(lat), t, short(pct(lat, 50)), short(p99),
			short(lat[len(lat)-1]), verdict(p99 < stallP99Goal, "p99 < 1.5 s"))
	}
}

// printRecovery prints whether the console answered normally again
// within recoveryGoal of SIGCONT.
func printRecovery(back time.Duration, recovered bool, last string) {
	switch {
	case !recovered:
		fmt.Printf("  recovery: not every screen answered as before the stall %s after SIGCONT (last round: %s)%s\n",
			short(back), last, verdict(false, "normal again within 5 s, without a restart"))
	default:
		fmt.Printf("  recovery: every screen answered as before the stall %s after SIGCONT, without a restart%s\n",
			short(back), verdict(back < recoveryGoal, "within 5 s"))
	}
}
