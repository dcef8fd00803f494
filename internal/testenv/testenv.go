// Package testenv gives integration tests real services: one local stack
// per test binary, and a fresh, migrated database per test.
package testenv

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/store"
)

var (
	stack *devstack.Stack
	dbSeq atomic.Int64
)

// Main starts the services opts asks for, runs the tests and stops the
// services. A missing service binary fails the run loudly.
func Main(m *testing.M, opts devstack.Options) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	st, err := devstack.Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv: cannot start the local stack:", err)
		os.Exit(1)
	}
	stack = st
	code := m.Run()
	if err := st.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: stop:", err)
	}
	os.Exit(code)
}

// Stack returns the running stack.
func Stack(t testing.TB) *devstack.Stack {
	t.Helper()
	if stack == nil {
		t.Fatal("testenv: no stack; call testenv.Main from TestMain")
	}
	return stack
}

// NewDatabase creates an empty database and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, err := Stack(t).CreateDatabase(ctx, fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1)))
	if err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	return url
}

// MigratedPool creates a database, applies the console's migrations and
// returns a pool on it, closed when the test ends.
func MigratedPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := store.Open(ctx, url, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := store.Migrate(ctx, pool); err != nil {
		t.Fatalf("testenv: migrate: %v", err)
	}
	return pool, url
}
