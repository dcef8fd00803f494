package auth

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// BusyError says a sign-in was answered without hashing because the
// console is already checking as many passwords as it can afford.
type BusyError struct {
	// PerAddress is true when the client's own address already has
	// attempts in flight.
	PerAddress bool
	RetryAfter time.Duration
}

func (e *BusyError) Error() string {
	if e.PerAddress {
		return "a sign-in from your address is already being checked: wait a moment and try again"
	}
	return "the console is busy checking other sign-ins: try again in a second"
}

// pressureWindow is how long the gate remembers which addresses fail or
// push: a queueing hint only, the throttle itself is in Postgres.
const pressureWindow = ThrottleWindow

// Gate bounds password hashing: at most Slots hashes run at once (each
// argon2id hash holds 19 MiB), at most Queue attempts wait for a slot and
// none waits longer than Wait. Each address has at most PerAddress
// attempts in the gate at once. Addresses under pressure (recent failures
// and refusals) wait behind the others, and a full queue makes room for
// an address under less pressure, so a flood delays a real person by
// about one hash.
type Gate struct {
	Slots      int
	Queue      int
	Wait       time.Duration
	PerAddress int

	mu        sync.Mutex
	busy      int
	peak      int
	waiters   []*waiter
	inFlight  map[string]int
	pressure  map[string]int
	pressedAt time.Time
}

type waiter struct {
	address string
	granted bool
	evicted bool
	ready   chan struct{}
}

// NewGate returns a gate sized to the machine: one hash per CPU.
func NewGate() *Gate {
	n := runtime.GOMAXPROCS(0)
	return &Gate{Slots: n, Queue: 4 * n, Wait: 400 * time.Millisecond, PerAddress: 2}
}

// Enter admits an attempt from address, waiting for a hashing slot. The
// returned release must be called once the hash is done. It fails at once
// with a *BusyError when the address already has PerAddress attempts in
// the gate or the queue is full of addresses under no more pressure, and
// after Wait when no slot came free.
func (g *Gate) Enter(ctx context.Context, address string) (release func(), err error) {
	g.mu.Lock()
	g.initLocked()
	if g.inFlight[address] >= g.PerAddress {
		g.pressure[address]++
		g.mu.Unlock()
		return nil, &BusyError{PerAddress: true, RetryAfter: time.Second}
	}
	if g.busy < g.Slots && len(g.waiters) == 0 {
		g.busy++
		g.peak = max(g.peak, g.busy)
		g.inFlight[address]++
		g.mu.Unlock()
		return g.releaser(address), nil
	}
	if len(g.waiters) >= g.Queue && !g.evictLocked(address) {
		g.pressure[address]++
		g.mu.Unlock()
		return nil, &BusyError{RetryAfter: time.Second}
	}
	w := &waiter{address: address, ready: make(chan struct{})}
	g.waiters = append(g.waiters, w)
	g.inFlight[address]++
	g.mu.Unlock()

	timer := time.NewTimer(g.Wait)
	defer timer.Stop()
	select {
	case <-w.ready:
	case <-timer.C:
		err = &BusyError{RetryAfter: time.Second}
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case w.granted: // a slot came, perhaps just as we gave up: take it
		return g.releaser(address), nil
	case w.evicted:
		g.pressure[address]++
		return nil, &BusyError{RetryAfter: time.Second}
	}
	g.removeLocked(w)
	g.leaveLocked(address)
	return nil, err
}

func (g *Gate) initLocked() {
	if g.inFlight == nil {
		g.inFlight, g.pressure = map[string]int{}, map[string]int{}
	}
	if now := time.Now(); now.Sub(g.pressedAt) > pressureWindow || len(g.pressure) > 10000 {
		clear(g.pressure)
		g.pressedAt = now
	}
}

// evictLocked makes room in a full queue for address by sending away the
// waiter under the most pressure, if it is under more than address.
func (g *Gate) evictLocked(address string) bool {
	worst := -1
	for i, w := range g.waiters {
		if worst < 0 || g.pressure[w.address] > g.pressure[g.waiters[worst].address] {
			worst = i
		}
	}
	if worst < 0 || g.pressure[g.waiters[worst].address] <= g.pressure[address] {
		return false
	}
	w := g.waiters[worst]
	g.waiters = append(g.waiters[:worst], g.waiters[worst+1:]...)
	g.leaveLocked(w.address)
	w.evicted = true
	close(w.ready)
	return true
}

func (g *Gate) removeLocked(w *waiter) {
	for i, x := range g.waiters {
		if x == w {
			g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
			return
		}
	}
}

func (g *Gate) releaser(address string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.leaveLocked(address)
			g.handOffLocked()
		})
	}
}

func (g *Gate) leaveLocked(address string) {
	if g.inFlight[address] <= 1 {
		delete(g.inFlight, address)
	} else {
		g.inFlight[address]--
	}
}

// handOffLocked gives the freed slot to the waiter whose address is under
// the least pressure (the earliest among equals), or frees it.
func (g *Gate) handOffLocked() {
	if len(g.waiters) == 0 {
		g.busy--
		return
	}
	best := 0
	for i, w := range g.waiters {
		if g.pressure[w.address] < g.pressure[g.waiters[best].address] {
			best = i
		}
	}
	w := g.waiters[best]
	g.waiters = append(g.waiters[:best], g.waiters[best+1:]...)
	w.granted = true
	close(w.ready)
}

// Peak is the most attempts that held a hashing slot at once.
func (g *Gate) Peak() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak
}

// Failed tells the gate that an attempt from address failed, so its next
// attempts wait behind those of addresses that fail less.
func (g *Gate) Failed(address string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.initLocked()
	g.pressure[address]++
}
