package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the advisory lock key that serialises concurrent
// migrate runs (two release machines, or a test and the demo).
const migrationLock = 0x6f70735f6d6967 // "ops_mig"

// Migration is one embedded SQL file, named NNN_description.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s is not named NNN_description.sql", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("store: migration versions must run 1..N without gaps; found %d at position %d", m.Version, i+1)
		}
	}
	return ms, nil
}

// Latest is the version of the newest embedded migration.
func Latest() int {
	ms, err := Migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// Migrate applies every embedded migration the database lacks, each in its
// own transaction, under an advisory lock. It returns the versions applied.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]int, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migrate: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return nil, fmt.Errorf("store: migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS ops;
		CREATE TABLE IF NOT EXISTS ops.schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("store: migrate: bookkeeping table: %w", err)
	}
	current, err := version(ctx, conn.Conn())
	if err != nil {
		return nil, err
	}
	var applied []int
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		err := pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO ops.schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("store: migration %s: %w", m.Name, err)
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// SchemaVersion is the newest migration applied to the database; 0 when
// the schema does not exist yet.
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	defer conn.Release()
	return version(ctx, conn.Conn())
}

func version(ctx context.Context, conn *pgx.Conn) (int, error) {
	var v int
	err := conn.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM ops.schema_migrations`).Scan(&v)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000") {
			return 0, nil // undefined table or schema: nothing applied yet
		}
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

// SchemaError says the database schema does not match this binary.
type SchemaError struct {
	Have, Want int
}

func (e *SchemaError) Error() string {
	if e.Have > e.Want {
		return fmt.Sprintf("schema ops is at version %d, newer than this console (%d): deploy the newer console", e.Have, e.Want)
	}
	return fmt.Sprintf("schema ops is at version %d, this console needs %d: run `atum-console migrate` first", e.Have, e.Want)
}

// CheckSchema returns a *SchemaError when the database is not at the
// embedded migrations' latest version.
func CheckSchema(ctx context.Context, pool *pgxpool.Pool) error {
	have, err := SchemaVersion(ctx, pool)
	if err != nil {
		return err
	}
	if want := Latest(); have != want {
		return &SchemaError{Have: have, Want: want}
	}
	return nil
}
