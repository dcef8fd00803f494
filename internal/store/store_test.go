package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/store"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true}) }

func TestMigrateIsIdempotentAndChecked(t *testing.T) {
	ctx := context.Background()
	pool, err := store.Open(ctx, testenv.NewDatabase(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	var se *store.SchemaError
	if err := store.CheckSchema(ctx, pool); !errors.As(err, &se) || se.Have != 0 {
		t.Fatalf("CheckSchema on an empty database = %v, want SchemaError at 0", err)
	}
	applied, err := store.Migrate(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != store.Latest() || store.Latest() < 1 {
		t.Fatalf("applied %v, latest %d", applied, store.Latest())
	}
	if err := store.CheckSchema(ctx, pool); err != nil {
		t.Fatalf("CheckSchema after migrate: %v", err)
	}
	again, err := store.Migrate(ctx, pool)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Migrate applied %v, err %v", again, err)
	}

	// A database migrated by a newer console is refused too.
	if _, err := pool.Exec(ctx, `INSERT INTO ops.schema_migrations (version, name) VALUES ($1, 'future.sql')`, store.Latest()+1); err != nil {
		t.Fatal(err)
	}
	if err := store.CheckSchema(ctx, pool); !errors.As(err, &se) || se.Have != store.Latest()+1 {
		t.Fatalf("CheckSchema on a newer schema = %v", err)
	}
}

func TestConcurrentMigrateAppliesOnce(t *testing.T) {
	ctx := context.Background()
	url := testenv.NewDatabase(t)
	errs := make(chan error, 3)
	total := make(chan int, 3)
	for range 3 {
		go func() {
			pool, err := store.Open(ctx, url, 2)
			if err != nil {
				errs <- err
				return
			}
			defer pool.Close()
			applied, err := store.Migrate(ctx, pool)
			total <- len(applied)
			errs <- err
		}()
	}
	sum := 0
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		sum += <-total
	}
	if sum != store.Latest() {
		t.Fatalf("three concurrent migrations applied %d migrations in all, want %d", sum, store.Latest())
	}
}

func TestReadIdentity(t *testing.T) {
	pool, url := testenv.MigratedPool(t)
	id, err := store.ReadIdentity(context.Background(), pool, url)
	if err != nil {
		t.Fatal(err)
	}
	if id.Host != "127.0.0.1" || id.Database == "" || id.User != "postgres" || id.ServerVersion[:2] != "15" || id.SystemID == "" {
		t.Fatalf("identity = %+v", id)
	}
}

func TestElectRunsOneAtATime(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	ctx := context.Background()
	inside := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := store.Elect(ctx, pool, 4242, func(*pgxpool.Conn) error {
			close(inside)
			<-release
			return nil
		})
		done <- err
	}()
	<-inside
	ran, err := store.Elect(ctx, pool, 4242, func(*pgxpool.Conn) error { t.Error("ran while the other holder works"); return nil })
	if ran || err != nil {
		t.Fatalf("second instance: ran %v, %v", ran, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ran, err = store.Elect(ctx, pool, 4242, func(*pgxpool.Conn) error { return errors.New("boom") })
	if !ran || err == nil || err.Error() != "boom" {
		t.Fatalf("after release: ran %v, %v", ran, err)
	}
	// The failed run released the lock too.
	if ran, _ := store.Elect(ctx, pool, 4242, func(*pgxpool.Conn) error { return nil }); !ran {
		t.Fatal("the lock was kept after an error")
	}
}
