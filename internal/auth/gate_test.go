package auth

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGateBoundsHashingAndRefusesAtOnce(t *testing.T) {
	g := &Gate{Slots: 1, Queue: 1, Wait: 5 * time.Second, PerAddress: 1}
	ctx := context.Background()
	release, err := g.Enter(ctx, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var busy *BusyError
	if _, err := g.Enter(ctx, "10.0.0.1"); !errors.As(err, &busy) || !busy.PerAddress {
		t.Fatalf("a second attempt from the same address: %v, want a per-address refusal", err)
	}
	got := make(chan error, 1)
	go func() {
		rel, err := g.Enter(ctx, "10.0.0.2")
		if rel != nil {
			rel()
		}
		got <- err
	}()
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.waiters) == 1 })
	start := time.Now()
	if _, err := g.Enter(ctx, "10.0.0.3"); !errors.As(err, &busy) || busy.PerAddress {
		t.Fatalf("with the queue full: %v, want a busy refusal", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("a refusal took %s: it must not wait", d)
	}
	release()
	if err := <-got; err != nil {
		t.Fatalf("the waiting attempt: %v", err)
	}
	if g.Peak() != 1 {
		t.Errorf("peak %d hashes at once, want 1", g.Peak())
	}
}

func TestGateWaitEndsWithBusy(t *testing.T) {
	g := &Gate{Slots: 1, Queue: 4, Wait: 50 * time.Millisecond, PerAddress: 2}
	release, _ := g.Enter(context.Background(), "a")
	defer release()
	var busy *BusyError
	if _, err := g.Enter(context.Background(), "b"); !errors.As(err, &busy) {
		t.Fatalf("after Wait: %v, want busy", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.waiters) != 0 || g.inFlight["b"] != 0 {
		t.Fatalf("a waiter that gave up is still counted: %d waiting, %d in flight", len(g.waiters), g.inFlight["b"])
	}
}

func TestGateServesAddressesThatFailLessFirst(t *testing.T) {
	g := &Gate{Slots: 1, Queue: 10, Wait: 5 * time.Second, PerAddress: 1}
	for range 5 {
		g.Failed("attacker")
	}
	release, _ := g.Enter(context.Background(), "first")
	order := make(chan string, 2)
	enter := func(addr string) {
		rel, err := g.Enter(context.Background(), addr)
		if err != nil {
			order <- "error " + addr
			return
		}
		order <- addr
		rel()
	}
	go enter("attacker")
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.waiters) == 1 })
	go enter("person")
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.waiters) == 2 })
	release()
	if first := <-order; first != "person" {
		t.Fatalf("%q got the slot first; the address without failures should", first)
	}
	<-order
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached within 5 s")
}

func TestGateFullQueueMakesRoomForAQuietAddress(t *testing.T) {
	g := &Gate{Slots: 1, Queue: 1, Wait: 5 * time.Second, PerAddress: 1}
	g.Failed("flood")
	release, _ := g.Enter(context.Background(), "first")
	evicted := make(chan error, 1)
	go func() {
		_, err := g.Enter(context.Background(), "flood")
		evicted <- err
	}()
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.waiters) == 1 })
	got := make(chan error, 1)
	go func() {
		rel, err := g.Enter(context.Background(), "person")
		if rel != nil {
			rel()
		}
		got <- err
	}()
	var busy *BusyError
	if err := <-evicted; !errors.As(err, &busy) {
		t.Fatalf("the flood's waiter: %v, want sent away busy", err)
	}
	release()
	if err := <-got; err != nil {
		t.Fatalf("the quiet address: %v", err)
	}
}
