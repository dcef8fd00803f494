package rediscache

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/atum/ops-console/internal/sampling"
	"github.com/atum/ops-console/internal/store"
)

// infoLock is the advisory lock that elects the console instance which
// sends INFO this interval.
const infoLock = 0x6f70735f72656469 // "ops_redi"

// Server is the Redis server's figures from one INFO.
type Server struct {
	At               time.Time
	OpsPerSec        int64
	KeyspaceHits     int64
	KeyspaceMisses   int64
	ConnectedClients int64
	UsedMemory       int64
	TotalCommands    int64
	UptimeSeconds    int64
}

// ParseInfo reads the fields the console shows from an INFO reply.
func ParseInfo(info string) (Server, error) {
	var s Server
	fields := map[string]*int64{
		"instantaneous_ops_per_sec": &s.OpsPerSec, "keyspace_hits": &s.KeyspaceHits, "keyspace_misses": &s.KeyspaceMisses,
		"connected_clients": &s.ConnectedClients, "used_memory": &s.UsedMemory,
		"total_commands_processed": &s.TotalCommands, "uptime_in_seconds": &s.UptimeSeconds,
	}
	found := 0
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if dst, want := fields[k]; ok && want {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return s, fmt.Errorf("rediscache: INFO field %s is %q", k, v)
			}
			*dst = n
			found++
		}
	}
	if found == 0 {
		return s, errors.New("rediscache: INFO reply has none of the expected fields")
	}
	return s, nil
}

// Sampler sends at most one INFO per interval to Redis, whatever the
// number of viewers and console instances (one instance is elected per
// interval with an advisory lock), and none while SUSPEND_REDIS is on
// unless an operator forces a probe.
type Sampler struct {
	Console  *pgxpool.Pool
	Client   *redis.Client
	Interval time.Duration
	// Suspended reports whether SUSPEND_REDIS is on.
	Suspended func(ctx context.Context) (bool, error)
	// OnSample, when set, runs after this instance stored a sample.
	OnSample func()

	latest atomic.Pointer[Server]
	sent   atomic.Int64
	once   sync.Once
	smp    *sampling.Sampler[Server]
}

// ErrPaused says polling is paused because SUSPEND_REDIS is on.
var ErrPaused = errors.New("polling paused: SUSPEND_REDIS is on")

// Sent counts the INFO commands this instance sent.
func (s *Sampler) Sent() int64 { return s.sent.Load() }

// Tick sends one INFO unless one was sent within the interval by any
// instance or SUSPEND_REDIS is on (force overrides both), and stores it.
func (s *Sampler) Tick(ctx context.Context, force bool) (Server, error) {
	if !force && s.Suspended != nil {
		on, err := s.Suspended(ctx)
		if err != nil {
			return Server{}, store.Console(err)
		}
		if on {
			return Server{}, ErrPaused
		}
	}
	srv, took, err := s.sampler().Tick(ctx, force)
	switch {
	case err != nil && !took:
		return Server{}, fmt.Errorf("rediscache: sample: %w", err)
	case err != nil:
		return Server{}, err
	case took:
		return srv, nil
	}
	srv, err = s.Latest(ctx) // another instance sampled this interval
	if err != nil && !errors.Is(err, ErrNoSample) {
		err = store.Console(err)
	}
	return srv, err
}

// sampler sends INFO on the elected console connection and stores it.
func (s *Sampler) sampler() *sampling.Sampler[Server] {
	s.once.Do(func() {
		s.smp = &sampling.Sampler[Server]{Pool: s.Console, Lock: infoLock, Interval: s.Interval,
			Last: func(ctx context.Context, conn *pgxpool.Conn) (Server, time.Time, error) {
				var at time.Time
				err := conn.QueryRow(ctx, `SELECT COALESCE(max(at), 'epoch') FROM ops.redis_samples`).Scan(&at)
				return Server{}, at, err
			},
			Take: s.take,
			OnSample: func() {
				if s.OnSample != nil {
					s.OnSample()
				}
			}}
	})
	return s.smp
}

func (s *Sampler) take(ctx context.Context, conn *pgxpool.Conn, _ Server) (Server, error) {
	s.sent.Add(1)
	info, err := s.Client.Info(ctx).Result()
	if err != nil {
		return Server{}, fmt.Errorf("redis: INFO: %w", err)
	}
	srv, err := ParseInfo(info)
	if err != nil {
		return Server{}, err
	}
	srv.At = time.Now()
	if _, err := conn.Exec(ctx, `
		INSERT INTO ops.redis_samples (at, ops_per_sec, keyspace_hits, keyspace_misses, connected_clients, used_memory, total_commands_processed, uptime_seconds)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (at) DO NOTHING`,
		srv.At, srv.OpsPerSec, srv.KeyspaceHits, srv.KeyspaceMisses, srv.ConnectedClients, srv.UsedMemory, srv.TotalCommands, srv.UptimeSeconds); err != nil {
		return Server{}, store.Console(fmt.Errorf("rediscache: store sample: %w", err))
	}
	s.latest.Store(&srv)
	return srv, nil
}

// ErrNoSample says Redis was never sampled.
var ErrNoSample = errors.New("Redis was not sampled yet")

// Latest returns the newest stored sample.
func (s *Sampler) Latest(ctx context.Context) (Server, error) {
	if l := s.latest.Load(); l != nil && time.Since(l.At) < s.Interval {
		return *l, nil
	}
	var srv Server
	err := s.Console.QueryRow(ctx, `
		SELECT at, ops_per_sec, keyspace_hits, keyspace_misses, connected_clients, used_memory, total_commands_processed, uptime_seconds
		FROM ops.redis_samples ORDER BY at DESC LIMIT 1`).
		Scan(&srv.At, &srv.OpsPerSec, &srv.KeyspaceHits, &srv.KeyspaceMisses, &srv.ConnectedClients, &srv.UsedMemory, &srv.TotalCommands, &srv.UptimeSeconds)
	if errors.Is(err, pgx.ErrNoRows) {
		return Server{}, ErrNoSample
	}
	if err != nil {
		return Server{}, fmt.Errorf("rediscache: latest sample: %w", err)
	}
	return srv, nil
}

// CommandsPerDay projects the server's commands per day from the samples
// of the last hour: the commands processed between consecutive samples
// (a restart counts from zero) over the time they span.
func CommandsPerDay(ctx context.Context, db Querier, now time.Time) (perDay int64, span time.Duration, err error) {
	var total int64
	var secs float64
	err = db.QueryRow(ctx, `
		WITH s AS (
		    SELECT at, total_commands_processed AS c, lag(total_commands_processed) OVER (ORDER BY at) AS pc,
		           lag(at) OVER (ORDER BY at) AS pat
		    FROM ops.redis_samples WHERE at >= $1::timestamptz - interval '1 hour')
		SELECT COALESCE(sum(CASE WHEN c >= pc THEN c - pc ELSE c END), 0)::bigint,
		       COALESCE(extract(epoch FROM max(at) - min(pat)), 0)::float8
		FROM s WHERE pc IS NOT NULL`, now).Scan(&total, &secs)
	if err != nil {
		return 0, 0, fmt.Errorf("rediscache: commands per day: %w", err)
	}
	if secs <= 0 {
		return 0, 0, nil
	}
	return int64(float64(total) / secs * 86400), time.Duration(secs * float64(time.Second)), nil
}

// PruneSamples deletes Redis samples older than keep.
func PruneSamples(ctx context.Context, pool *pgxpool.Pool, keep time.Duration) error {
	_, err := pool.Exec(ctx, `DELETE FROM ops.redis_samples WHERE at < now() - $1 * interval '1 second'`, keep.Seconds())
	if err != nil {
		return fmt.Errorf("rediscache: prune samples: %w", err)
	}
	return nil
}
