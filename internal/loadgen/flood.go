package main

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Goals of the sign-in flood (issue 11).
const (
	floodMemoryGoalKiB = 150 * 1024
	realSignInGoal     = time.Second
)

// userDelay is how long after the flood's start the real user signs in,
// so that the flood's requests are already in the console.
const userDelay = 200 * time.Millisecond

// floodSpec is one sign-in flood: total wrong sign-ins with unknown
// emails, sent at once from the addresses in from, in turn.
type floodSpec struct {
	label string
	from  []net.IP
	total int
	tag   string // makes the flood's emails unique
}

// floods are the two floods of the benchmark: all from one address, then
// spread over 50.
func floods(total int) []floodSpec {
	many := make([]net.IP, 50)
	for i := range many {
		many[i] = loopback(0, 1, byte(i+1))
	}
	return []floodSpec{
		{label: "1 address (127.0.0.10)", from: []net.IP{loopback(0, 0, 10)}, total: total, tag: "one"},
		{label: "50 addresses (127.0.1.1-50)", from: many, total: total, tag: "fifty"},
	}
}

// realUser is the address the real user signs in from during a flood.
var realUser = loopback(0, 0, 200)

// signInResult is how the real user's sign-in went.
type signInResult struct {
	outcome string
	took    time.Duration
	session bool
}

// String is the answer's status and whether it carried a session.
func (r signInResult) String() string {
	switch {
	case r.outcome == "timeout" || r.outcome == "error":
		return r.outcome
	case r.session:
		return r.outcome + " with a session"
	default:
		return r.outcome + " without a session"
	}
}

// ok reports whether the sign-in succeeded within its goal.
func (r signInResult) ok() bool {
	return r.outcome == "303" && r.session && r.took < realSignInGoal
}

// signInFlood runs flood f against a fresh console started with env and
// prints its figures. It returns a description of the console's death,
// or "" when the console survived. A console killed by the memory guard
// (guardMiB) did not die by itself: that is a missed goal, not a death.
func signInFlood(bin string, env map[string]string, f floodSpec, guardMiB int) (string, error) {
	c, err := launch(bin, env)
	if err != nil {
		return "", err
	}
	defer c.stop()
	time.Sleep(3 * time.Second)
	idle, err := residentKiB(c.pid())
	if err != nil {
		return "", err
	}
	w := watchMemory(c.pid(), guardMiB*1024, func() { _ = c.cmd.Process.Kill() })
	answers, took, user := flood(c.base, f)
	busy := waitQuiet(c.pid(), 30*time.Second)
	hwm, _ := statusKiB(c.pid(), "VmHWM")
	peak, samples, tripped := w.finish()
	if tripped {
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
		}
	}
	fmt.Printf("sign-in flood: %d wrong sign-ins (unknown emails) at once from %s\n", f.total, f.label)
	top, hwmText := max(peak, hwm), mib(hwm)
	if hwm == 0 {
		hwmText = "unreadable (the process is gone)"
	}
	fmt.Printf("  memory: idle %s, peak %s (VmRSS every 10 ms, %d samples), VmHWM %s: +%s above idle%s\n",
		mib(idle), mib(peak), samples, hwmText, mib(top-idle), verdict(top-idle < floodMemoryGoalKiB, "< 150 MiB above idle"))
	printAnswers(answers, took, busy)
	fmt.Printf("  real sign-in from %s, %s into the flood: %s in %s%s\n", realUser, userDelay, user,
		short(user.took), verdict(user.ok(), "succeeds in < 1 s"))
	if tripped {
		fmt.Printf("  memory guard: loadgen killed the console when its resident memory passed %d MiB, to protect the machine; "+
			"the answers after that are errors%s\n", guardMiB, verdict(false, "< 150 MiB above idle"))
		return "", nil
	}
	if c.alive() {
		return "", nil
	}
	return c.death(), nil
}

// printAnswers prints the flood's answers by kind.
func printAnswers(a *tally, took, busy time.Duration) {
	other, detail := a.except("401", "429", "503", "timeout", "error")
	if detail != "" {
		detail = " (" + detail + ")"
	}
	fmt.Printf("  answers in %s: 401 (hashed) ×%d, 429 ×%d, 503 ×%d, other ×%d%s, timeout (%s) ×%d, error ×%d; console busy %s after the last answer\n",
		short(took), a.get("401"), a.get("429"), a.get("503"), other, detail, requestTimeout, a.get("timeout"), a.get("error"), short(busy))
}

// flood sends f's wrong sign-ins to base all at once and, while they run,
// the real user's sign-in. It returns the answers, the time until the last
// one, and the real user's result.
func flood(base string, f floodSpec) (*tally, time.Duration, signInResult) {
	clients := make([]*http.Client, len(f.from))
	for i, ip := range f.from {
		clients[i] = clientFrom(ip, requestTimeout)
		defer clients[i].CloseIdleConnections()
	}
	answers := &tally{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range f.total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"email": {fmt.Sprintf("nobody-%s-%d@flood.example", f.tag, i)},
				"password": {"not the password"}, "next": {"/"}}
			<-start
			answers.add(outcome(clients[i%len(clients)].PostForm(base+"/login", form)))
		}()
	}
	user := make(chan signInResult, 1)
	t0 := time.Now()
	close(start)
	go func() {
		time.Sleep(userDelay)
		user <- realSignIn(base, realUser)
	}()
	wg.Wait()
	return answers, time.Since(t0), <-user
}

// realSignIn signs the load test's operator in from ip with the right
// password and times it.
func realSignIn(base string, ip net.IP) signInResult {
	c := clientFrom(ip, requestTimeout)
	defer c.CloseIdleConnections()
	t0 := time.Now()
	resp, err := c.PostForm(base+"/login", url.Values{"email": {loadEmail}, "password": {loadPassword}, "next": {"/"}})
	var r signInResult
	if err == nil {
		for _, ck := range resp.Cookies() {
			r.session = r.session || (strings.HasSuffix(ck.Name, "atum_session") && ck.Value != "")
		}
	}
	r.outcome = outcome(resp, err)
	r.took = time.Since(t0)
	return r
}
