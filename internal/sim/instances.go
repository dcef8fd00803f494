package sim

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults of InstancesOptions, the platform's own settings.
const (
	// DefaultHeartbeatEvery is how often an instance reports.
	DefaultHeartbeatEvery = 15 * time.Second
	// DefaultSwitchPollEvery is how often an instance re-reads the kill
	// switch when no notification arrives.
	DefaultSwitchPollEvery = 15 * time.Second
	// DefaultMemoryTTL is how long a tenant stays in an instance's memory.
	DefaultMemoryTTL = 30 * time.Second
	// DefaultRedisTTL is the expiry of a tenant written to Redis.
	DefaultRedisTTL = 300 * time.Second
	// DefaultEnvironment is the environment reported when none is given.
	DefaultEnvironment = "demo"
)

// The platform contract: the kill switch, its channel and the queries an
// instance runs.
const (
	suspendRedis  = "SUSPEND_REDIS"
	switchChannel = "ops_kill_switches"
	switchSQL     = `SELECT enabled, version FROM ops.kill_switch_state WHERE name = 'SUSPEND_REDIS'`
	tenantSQL     = `SELECT id, slug, name, plan, status FROM tenants WHERE slug = $1`
	slugsSQL      = `SELECT slug FROM tenants WHERE deleted_at IS NULL ORDER BY id LIMIT $1`
	heartbeatSQL  = `
		INSERT INTO ops.instance_heartbeats (instance_id, machine_id, process_group, boot_id, started_at, environment,
			database_identity, suspend_redis, suspend_redis_source, switch_version, switch_applied_at,
			cache_memory_hits, cache_redis_hits, cache_misses, redis_commands, top_miss_tenants,
			pool_checked_out, pool_overflow, pool_timeouts, reported_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, $17, $18, $19, now())
		ON CONFLICT (instance_id) DO UPDATE SET
			machine_id = EXCLUDED.machine_id, process_group = EXCLUDED.process_group, boot_id = EXCLUDED.boot_id,
			started_at = EXCLUDED.started_at, environment = EXCLUDED.environment,
			database_identity = EXCLUDED.database_identity, suspend_redis = EXCLUDED.suspend_redis,
			suspend_redis_source = EXCLUDED.suspend_redis_source, switch_version = EXCLUDED.switch_version,
			switch_applied_at = EXCLUDED.switch_applied_at, cache_memory_hits = EXCLUDED.cache_memory_hits,
			cache_redis_hits = EXCLUDED.cache_redis_hits, cache_misses = EXCLUDED.cache_misses,
			redis_commands = EXCLUDED.redis_commands, top_miss_tenants = EXCLUDED.top_miss_tenants,
			pool_checked_out = EXCLUDED.pool_checked_out, pool_overflow = EXCLUDED.pool_overflow,
			pool_timeouts = EXCLUDED.pool_timeouts, reported_at = now()`
)

// Sources of an instance's SUSPEND_REDIS state, as heartbeats report them.
const (
	sourceEnv      = "env"
	sourceDatabase = "database"
	sourceCached   = "cached"
)

// Sizes and timings of a simulated instance.
const (
	// instancePoolBase and instancePoolMax are an instance's pool size
	// (MinConns) and its limit with overflow (MaxConns).
	instancePoolBase, instancePoolMax = 2, 4
	// overflowIdle is how long a connection beyond the base pool may stay
	// idle before the pool's health check, which runs as often, closes
	// it: like SQLAlchemy's overflow, it goes soon after the burst.
	overflowIdle = 2 * time.Second
	// consolePoolMax bounds the separate pool an instance keeps for the
	// console's database when it is not the platform's.
	consolePoolMax = 2
	// redisPoolSize bounds an instance's Redis connections (go-redis sends
	// one HELLO on each new one).
	redisPoolSize = 2
	// redisDialTimeout and redisTimeout bound reaching Redis and one
	// command.
	redisDialTimeout, redisTimeout = time.Second, 500 * time.Millisecond
	// lookupTimeout bounds one lookup of the automatic workload and the
	// Postgres part of any lookup, waiting for a pooled connection
	// included.
	lookupTimeout = 5 * time.Second
	// bootTimeout bounds each step of an instance's start: connecting the
	// listener, reading the switch, the first heartbeat.
	bootTimeout = 5 * time.Second
	// heartbeatTimeout bounds one heartbeat.
	heartbeatTimeout = 5 * time.Second
	// firstInstancePID is the fake pid of the first simulated instance;
	// every start and restart takes the next one.
	firstInstancePID = 5000
	// maxSlugs bounds the tenants the automatic workload picks from.
	maxSlugs = 5000
	// zipfS is the skew of the automatic workload: a few tenants are hot,
	// the long tail misses.
	zipfS = 1.1
	// topMissTenants is how many tenants a heartbeat lists by misses.
	topMissTenants = 10
	// logEvery limits an instance to one log line per kind of error in
	// that time.
	logEvery = 10 * time.Second
	// memoryPruneAt is the memory cache size above which expired entries
	// are dropped.
	memoryPruneAt = 10000
)

// ErrTenantNotFound is returned by Lookup for a slug no tenant has.
var ErrTenantNotFound = errors.New("sim: tenant not found")

// InstanceSpec describes one simulated platform instance.
type InstanceSpec struct {
	// ID is the instance_id it reports, unique among the instances.
	ID string
	// Machine and Group are its machine_id and process_group, and parts
	// of its application_name atum:<Group>:<Machine>:<pid>.
	Machine, Group string
	// EnvSuspend simulates SUSPEND_REDIS=true in the instance's
	// environment: it never uses Redis, whatever the database says, and
	// reports source "env".
	EnvSuspend bool
}

// InstancesOptions configures StartInstances.
type InstancesOptions struct {
	// ConsoleURL is the Postgres database with schema ops (kill switches,
	// heartbeats). It must reach Postgres directly, not through PgBouncer
	// in transaction mode, since instances LISTEN on it.
	ConsoleURL string
	// PlatformURL is the Postgres database with the tenants table; it may
	// equal ConsoleURL, and may go through PgBouncer (lookups then use
	// pgx's exec mode unless the URL picks default_query_exec_mode).
	PlatformURL string
	// RedisURL is the Redis the instances cache tenants in.
	RedisURL string
	// Instances are the simulated instances, at least one.
	Instances []InstanceSpec
	// Environment is the environment the heartbeats report (default
	// "demo").
	Environment string
	// DatabaseIdentity is the database_identity the heartbeats report.
	DatabaseIdentity string
	// HeartbeatEvery, SwitchPollEvery, MemoryTTL and RedisTTL default to
	// DefaultHeartbeatEvery, DefaultSwitchPollEvery, DefaultMemoryTTL and
	// DefaultRedisTTL when zero.
	HeartbeatEvery, SwitchPollEvery, MemoryTTL, RedisTTL time.Duration
	// LookupsPerSecond per instance for the automatic workload (0 = none;
	// tests drive Lookup themselves).
	LookupsPerSecond int
	// Log, if not nil, receives switch changes and, at most one line per
	// kind every 10 s and instance, transient errors.
	Log io.Writer
}

// Counters is what an instance counted since it booted, and its
// SUSPEND_REDIS state.
type Counters struct {
	// MemoryHits, RedisHits and Misses count lookups answered from
	// memory, from Redis and from Postgres.
	MemoryHits, RedisHits, Misses int64
	// RedisCommands counts the commands the instance sent to Redis,
	// including the HELLO go-redis sends on each new connection.
	RedisCommands int64
	// Suspended reports whether the instance bypasses Redis; once it does,
	// no Redis command of it is under way any more.
	Suspended bool
	// Source is where Suspended comes from: "env", "database" or
	// "cached" (Postgres unreachable: the last value read).
	Source string
	// BootID identifies the instance's current boot.
	BootID string
}

// Instances is a running set of simulated platform instances started by
// StartInstances. Each one caches tenant lookups in memory, then Redis,
// then Postgres, follows the SUSPEND_REDIS kill switch and writes
// heartbeats, as the platform contract says. Its methods may be called
// from several goroutines.
type Instances struct {
	o         InstancesOptions
	logMu     sync.Mutex
	stopWatch func() bool // unregisters the parent-context watcher
	stopOnce  sync.Once

	mu      sync.RWMutex // guards the fields below
	byID    map[string]*instance
	order   []string // instance ids in start order
	slugs   []string // the automatic workload's tenants, hottest first
	nextPID int
	stopped bool
}

// instance is one boot of a simulated platform instance: a restart
// replaces it with a new one.
type instance struct {
	s         *Instances
	spec      InstanceSpec
	name      string // application_name
	bootID    string
	startedAt time.Time
	platform  *pgxpool.Pool
	console   *pgxpool.Pool // platform when both URLs are equal
	rdb       *redis.Client
	listener  *pgx.Conn // handed from boot to runListener
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	wake      chan struct{} // asks runSwitch to re-read the switch
	haltOnce  sync.Once

	memoryHits, redisHits, misses, redisCommands atomic.Int64

	// gate orders Redis commands and suspension: a command is sent under
	// the read lock once suspended was found false, and suspending stores
	// true under the write lock, which waits for the commands under way.
	gate      sync.RWMutex
	suspended atomic.Bool

	mu           sync.Mutex // guards the fields below
	memory       map[string]memoryEntry
	tenantMisses map[string]int64
	sw           switchState
	lastLog      map[string]time.Time
}

// memoryEntry is a tenant in an instance's memory cache.
type memoryEntry struct {
	tenant  tenantRecord
	expires time.Time
}

// tenantRecord is a cached tenant, stored in Redis as JSON.
type tenantRecord struct {
	ID     string `json:"id"`
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Plan   string `json:"plan"`
	Status string `json:"status"`
}

// switchState is an instance's SUSPEND_REDIS state as it reports it.
type switchState struct {
	suspended bool
	source    string
	version   *int64    // the version last read from the database
	appliedAt time.Time // when this state and version were first applied
}

// tenantMisses is one entry of a heartbeat's top_miss_tenants.
type tenantMisses struct {
	Tenant string `json:"tenant"`
	Misses int64  `json:"misses"`
}

// StartInstances starts the simulated instances o describes. Each one has
// its own pgx pool on o.PlatformURL (MinConns 2, MaxConns 4,
// application_name atum:<group>:<machine>:<pid>), its own Redis client and
// its own connection listening on channel ops_kill_switches. Before it
// serves a lookup it has read SUSPEND_REDIS and written its first
// heartbeat; it then re-reads the switch on every notification and at
// least every SwitchPollEvery, and writes a heartbeat every
// HeartbeatEvery. With LookupsPerSecond > 0 each instance looks up
// tenants of o.PlatformURL's tenants table by itself, with a skewed
// distribution. StartInstances fails if an instance cannot read the
// switch or write its heartbeat. The instances run until Stop is called
// or ctx is cancelled.
func StartInstances(ctx context.Context, o InstancesOptions) (*Instances, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o.HeartbeatEvery = cmp.Or(o.HeartbeatEvery, DefaultHeartbeatEvery)
	o.SwitchPollEvery = cmp.Or(o.SwitchPollEvery, DefaultSwitchPollEvery)
	o.MemoryTTL = cmp.Or(o.MemoryTTL, DefaultMemoryTTL)
	o.RedisTTL = cmp.Or(o.RedisTTL, DefaultRedisTTL)
	o.Environment = cmp.Or(o.Environment, DefaultEnvironment)
	s := &Instances{o: o, byID: make(map[string]*instance), nextPID: firstInstancePID}
	fail := func(err error) (*Instances, error) {
		s.haltAll(false)
		return nil, err
	}
	for _, spec := range o.Instances {
		in, err := s.boot(ctx, spec)
		if in != nil {
			s.byID[spec.ID] = in
			s.order = append(s.order, spec.ID)
		}
		if err != nil {
			return fail(err)
		}
	}
	if o.LookupsPerSecond > 0 {
		slugs, err := loadSlugs(ctx, s.byID[s.order[0]].platform)
		if err != nil {
			return fail(err)
		}
		s.slugs = slugs
		for _, in := range s.byID {
			in.startWorkload(slugs, o.LookupsPerSecond)
		}
	}
	s.stopWatch = context.AfterFunc(ctx, s.shutdown)
	return s, nil
}

// validate checks the options.
func (o *InstancesOptions) validate() error {
	if _, err := pgxpool.ParseConfig(o.ConsoleURL); o.ConsoleURL == "" || err != nil {
		return errors.New("sim: instances: missing or unparsable ConsoleURL (value not shown)")
	}
	if _, err := pgxpool.ParseConfig(o.PlatformURL); o.PlatformURL == "" || err != nil {
		return errors.New("sim: instances: missing or unparsable PlatformURL (value not shown)")
	}
	if _, err := redis.ParseURL(o.RedisURL); err != nil {
		return errors.New("sim: instances: missing or unparsable RedisURL (value not shown)")
	}
	if len(o.Instances) == 0 {
		return errors.New("sim: instances: no instances")
	}
	seen := map[string]bool{}
	for _, spec := range o.Instances {
		if spec.ID == "" || seen[spec.ID] {
			return fmt.Errorf("sim: instances: empty or duplicate instance id %q", spec.ID)
		}
		seen[spec.ID] = true
		for _, part := range []string{spec.Machine, spec.Group} {
			if part == "" || strings.ContainsAny(part, ": \t\n") {
				return fmt.Errorf("sim: instances: %s: bad machine or group %q", spec.ID, part)
			}
		}
	}
	if o.HeartbeatEvery < 0 || o.SwitchPollEvery < 0 || o.MemoryTTL < 0 || o.RedisTTL < 0 || o.LookupsPerSecond < 0 {
		return errors.New("sim: instances: negative duration or LookupsPerSecond")
	}
	return nil
}

// loadSlugs returns up to maxSlugs live tenants' slugs in a fixed
// pseudo-random order, the hottest first.
func loadSlugs(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	rows, err := pool.Query(ctx, slugsSQL, maxSlugs)
	if err != nil {
		return nil, fmt.Errorf("sim: instances: load tenants: %w", err)
	}
	slugs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("sim: instances: load tenants: %w", err)
	}
	if len(slugs) == 0 {
		return nil, errors.New("sim: instances: no tenants to look up; seed the platform first")
	}
	return slugs, nil
}

// boot starts one boot of the instance spec: its pools, Redis client and
// listener, its first read of the switch and first heartbeat, and its
// background goroutines (not the workload). It returns the running
// instance even when the switch read or heartbeat failed, with the error;
// it returns nil only if the instance could not be created at all.
func (s *Instances) boot(ctx context.Context, spec InstanceSpec) (*instance, error) {
	s.mu.Lock()
	pid := s.nextPID
	s.nextPID++
	s.mu.Unlock()
	in := &instance{
		s:            s,
		spec:         spec,
		name:         fmt.Sprintf("atum:%s:%s:%d", spec.Group, spec.Machine, pid),
		bootID:       crand.Text(),
		startedAt:    time.Now(),
		wake:         make(chan struct{}, 1),
		memory:       make(map[string]memoryEntry),
		tenantMisses: make(map[string]int64),
		lastLog:      make(map[string]time.Time),
		sw:           switchState{source: sourceCached},
	}
	if spec.EnvSuspend {
		in.sw = switchState{suspended: true, source: sourceEnv}
		in.suspended.Store(true)
	}
	var err error
	if in.platform, err = newInstancePool(s.o.PlatformURL, in.name, instancePoolBase, instancePoolMax); err != nil {
		return nil, fmt.Errorf("sim: instances: %s: %w", spec.ID, err)
	}
	in.console = in.platform
	if s.o.ConsoleURL != s.o.PlatformURL {
		if in.console, err = newInstancePool(s.o.ConsoleURL, in.name, 0, consolePoolMax); err != nil {
			in.platform.Close()
			return nil, fmt.Errorf("sim: instances: %s: %w", spec.ID, err)
		}
	}
	in.rdb = newInstanceRedis(s.o.RedisURL, &in.redisCommands)
	in.ctx, in.cancel = context.WithCancel(context.Background())

	bootCtx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	warmUp(bootCtx, in.platform)
	// LISTEN before the first read, so that no change falls in between.
	if in.listener, err = in.connectListener(bootCtx); err != nil {
		in.logf("listen", "listen: %v", err) // runListener retries
	}
	errSwitch := in.refreshSwitch(bootCtx)
	in.wg.Go(in.runListener)
	in.wg.Go(in.runSwitch)
	errBeat := in.heartbeat(bootCtx)
	in.wg.Go(in.runHeartbeats)
	if err := errors.Join(errSwitch, errBeat); err != nil {
		return in, fmt.Errorf("sim: instances: %s: %w", spec.ID, err)
	}
	return in, nil
}

// newInstancePool returns a pool on url named name, using exec mode
// (no named prepared statements, which PgBouncer's transaction pooling
// breaks) unless the URL picks a mode. It does not connect.
func newInstancePool(url, name string, minConns, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("cannot parse a database URL (value not shown)")
	}
	if !strings.Contains(url, "default_query_exec_mode") {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = name
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > bootTimeout {
		cfg.ConnConfig.ConnectTimeout = bootTimeout
	}
	cfg.MinConns, cfg.MaxConns = minConns, maxConns
	if minConns > 0 { // a base pool: connections beyond it are overflow
		cfg.MaxConnIdleTime, cfg.HealthCheckPeriod = overflowIdle, overflowIdle
	}
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

// warmUp waits, at most until ctx ends, for the pool to have opened its
// MinConns connections in the background (or failed to), so that the first
// queries do not open extra ones alongside, which would show as overflow.
func warmUp(ctx context.Context, pool *pgxpool.Pool) {
	minConns := pool.Config().MinConns
	begin := time.Now()
	tried := false
	for ctx.Err() == nil {
		st := pool.Stat()
		if st.ConstructingConns() > 0 {
			tried = true
		} else if st.TotalConns() >= minConns || tried || time.Since(begin) > 250*time.Millisecond {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// newInstanceRedis returns a Redis client that sends nothing on connect
// but go-redis's HELLO (no CLIENT SETNAME, SETINFO or MAINT_NOTIFICATIONS),
// does not retry, and counts into n every command it sent.
func newInstanceRedis(url string, n *atomic.Int64) *redis.Client {
	opt, _ := redis.ParseURL(url) // validated
	opt.ClientName = ""
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opt.PoolSize = redisPoolSize
	opt.MinIdleConns = 0
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.DialTimeout = redisDialTimeout
	opt.ReadTimeout = redisTimeout
	opt.WriteTimeout = redisTimeout
	c := redis.NewClient(opt)
	c.AddHook(commandCounter{n: n})
	return c
}

// commandCounter is a go-redis hook counting the commands sent to the
// server, those of the connection handshake (HELLO) included.
type commandCounter struct{ n *atomic.Int64 }

// DialHook leaves dialling alone.
func (h commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook counts one command.
func (h commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if sentToRedis(err) {
			h.n.Add(1)
		}
		return err
	}
}

// ProcessPipelineHook counts each command of a pipeline.
func (h commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if sentToRedis(cmd.Err()) {
				h.n.Add(1)
			}
		}
		return err
	}
}

// sentToRedis reports whether a command that ended with err reached the
// server: it was answered (an error reply such as redis.Nil included), or
// it was written and the reply did not come back.
func sentToRedis(err error) bool {
	if err == nil {
		return true
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read"
}

// Stop ends every instance: it stops their workloads and background
// goroutines, sends each one's final heartbeat and closes their pools,
// listeners and Redis clients. It returns when all that is done, in well
// under a second when the databases answer and at most about three
// seconds otherwise. Stop is idempotent; it also runs when the context
// given to StartInstances is cancelled.
func (s *Instances) Stop() {
	if s.stopWatch != nil {
		s.stopWatch()
	}
	s.shutdown()
}

// shutdown does Stop's work once.
func (s *Instances) shutdown() {
	s.stopOnce.Do(func() { s.haltAll(true) })
}

// haltAll marks the set stopped and halts every instance, in parallel.
func (s *Instances) haltAll(final bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	var wg sync.WaitGroup
	for _, in := range s.byID {
		wg.Go(func() { in.halt(final) })
	}
	wg.Wait()
}

// Restart simulates a crash and restart of instance id: the running boot
// stops without a final heartbeat and a new one starts, with a new pid,
// boot id and start time, empty memory cache and counters from zero. It
// reads the switch and sends its first heartbeat before returning; if
// either fails the new boot keeps running (and retrying) and the error is
// returned.
func (s *Instances) Restart(id string) error {
	s.mu.Lock()
	old, ok := s.byID[id]
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return errors.New("sim: instances: stopped")
	}
	if !ok {
		return fmt.Errorf("sim: instances: no instance %q", id)
	}
	old.halt(false)
	in, err := s.boot(context.Background(), old.spec)
	if in == nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped { // Stop ran meanwhile and did not see this boot
		in.halt(false)
		return errors.New("sim: instances: stopped")
	}
	s.byID[id] = in
	if len(s.slugs) > 0 {
		in.startWorkload(s.slugs, s.o.LookupsPerSecond)
	}
	return err
}

// instance returns the running boot of instance id.
func (s *Instances) instance(id string) (*instance, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	in, ok := s.byID[id]
	switch {
	case s.stopped:
		return nil, errors.New("sim: instances: stopped")
	case !ok:
		return nil, fmt.Errorf("sim: instances: no instance %q", id)
	}
	return in, nil
}

// Lookup makes instance id look up the tenant with slug, as the platform
// does: memory, then Redis (unless suspended), then Postgres. It returns
// ErrTenantNotFound (wrapped) when no tenant has that slug; a Redis error
// is not returned but counted as a miss.
func (s *Instances) Lookup(ctx context.Context, id, slug string) error {
	in, err := s.instance(id)
	if err != nil {
		return err
	}
	return in.lookup(ctx, slug)
}

// Counters returns what instance id counted since it booted; the zero
// Counters for an unknown id.
func (s *Instances) Counters(id string) Counters {
	s.mu.RLock()
	in := s.byID[id]
	s.mu.RUnlock()
	if in == nil {
		return Counters{}
	}
	in.mu.Lock()
	sw := in.sw
	in.mu.Unlock()
	return Counters{
		MemoryHits:    in.memoryHits.Load(),
		RedisHits:     in.redisHits.Load(),
		Misses:        in.misses.Load(),
		RedisCommands: in.redisCommands.Load(),
		Suspended:     sw.suspended,
		Source:        sw.source,
		BootID:        in.bootID,
	}
}

// Heartbeat makes every instance send its heartbeat now, in parallel, and
// returns their errors.
func (s *Instances) Heartbeat(ctx context.Context) error {
	s.mu.RLock()
	if s.stopped {
		s.mu.RUnlock()
		return errors.New("sim: instances: stopped")
	}
	ins := make([]*instance, 0, len(s.order))
	for _, id := range s.order {
		ins = append(ins, s.byID[id])
	}
	s.mu.RUnlock()
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Go(func() {
			if err := in.heartbeat(ctx); err != nil {
				errs[i] = fmt.Errorf("%s: %w", in.spec.ID, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sim: instances: heartbeat: %w", err)
	}
	return nil
}

// logf writes a line to the log.
func (s *Instances) logf(format string, args ...any) {
	if s.o.Log == nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.o.Log, "sim: "+format+"\n", args...)
}

// logf writes a line about the instance unless it is stopping or wrote one
// of the same kind less than logEvery ago.
func (in *instance) logf(kind, format string, args ...any) {
	if in.ctx != nil && in.ctx.Err() != nil {
		return
	}
	in.mu.Lock()
	now := time.Now()
	if last, ok := in.lastLog[kind]; ok && now.Sub(last) < logEvery {
		in.mu.Unlock()
		return
	}
	in.lastLog[kind] = now
	in.mu.Unlock()
	in.s.logf(in.spec.ID+": "+format, args...)
}

// halt stops the boot's goroutines, sends its final heartbeat when final
// is set, and closes its connections.
func (in *instance) halt(final bool) {
	in.haltOnce.Do(func() { in.doHalt(final) })
}

// doHalt does halt's work once.
func (in *instance) doHalt(final bool) {
	in.cancel()
	in.wg.Wait()
	if final {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		if err := in.heartbeat(ctx); err != nil {
			in.s.logf("%s: final heartbeat: %v", in.spec.ID, err)
		}
		cancel()
	}
	if in.listener != nil { // boot failed before runListener took it
		closeConn(in.listener)
	}
	in.rdb.Close()
	if in.console != in.platform {
		in.console.Close()
	}
	in.platform.Close()
}

// closeConn closes conn, bounded by cleanupTimeout.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}

// sleep waits for d or until the boot stops, and reports whether it is
// still running.
func (in *instance) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-in.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// fail logs err (unless stopping) and pauses; it reports whether the boot
// is still running.
func (in *instance) fail(b *backoff, kind string, err error) bool {
	if in.ctx.Err() != nil {
		return false
	}
	in.logf(kind, "%s: %v", kind, err)
	return in.sleep(b.next())
}

// lookup looks up the tenant with slug: memory, Redis unless suspended,
// then Postgres.
func (in *instance) lookup(ctx context.Context, slug string) error {
	if in.fromMemory(slug) {
		in.memoryHits.Add(1)
		return nil
	}
	key := "tenant:" + slug
	var cached *tenantRecord
	_, err := in.withRedis(func() error {
		b, err := in.rdb.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err != nil {
			return err
		}
		var t tenantRecord
		if json.Unmarshal(b, &t) == nil && t.Slug == slug {
			cached = &t
		}
		return nil // an unreadable entry is a miss
	})
	if err != nil {
		in.logf("redis", "redis: %v", err)
	}
	if cached != nil {
		in.redisHits.Add(1)
		in.remember(*cached)
		return nil
	}

	in.misses.Add(1)
	in.mu.Lock()
	in.tenantMisses[slug]++
	in.mu.Unlock()
	t, err := in.loadTenant(ctx, slug)
	if err != nil {
		return err
	}
	in.remember(t)
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if _, err := in.withRedis(func() error { return in.rdb.Set(ctx, key, b, in.s.o.RedisTTL).Err() }); err != nil {
		in.logf("redis", "redis: %v", err)
	}
	return nil
}

// withRedis runs f, which sends Redis commands, unless the instance is
// suspended; it reports whether f ran, and f's error.
func (in *instance) withRedis(f func() error) (bool, error) {
	in.gate.RLock()
	defer in.gate.RUnlock()
	if in.suspended.Load() {
		return false, nil
	}
	return true, f()
}

// fromMemory reports whether slug is in the memory cache and fresh.
func (in *instance) fromMemory(slug string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	e, ok := in.memory[slug]
	return ok && time.Now().Before(e.expires)
}

// remember puts t in the memory cache for MemoryTTL.
func (in *instance) remember(t tenantRecord) {
	now := time.Now()
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.memory) >= memoryPruneAt {
		for slug, e := range in.memory {
			if !now.Before(e.expires) {
				delete(in.memory, slug)
			}
		}
	}
	in.memory[t.Slug] = memoryEntry{tenant: t, expires: now.Add(in.s.o.MemoryTTL)}
}

// loadTenant reads the tenant with slug from Postgres.
func (in *instance) loadTenant(ctx context.Context, slug string) (tenantRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	var t tenantRecord
	err := in.platform.QueryRow(ctx, tenantSQL, slug).Scan(&t.ID, &t.Slug, &t.Name, &t.Plan, &t.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, fmt.Errorf("%w: %q", ErrTenantNotFound, slug)
	}
	if err != nil {
		return t, fmt.Errorf("sim: %s: load tenant: %w", in.spec.ID, err)
	}
	return t, nil
}

// startWorkload starts the automatic lookups: perSecond per second on
// average, with jitter, over slugs with a Zipf distribution (the first
// slugs are the hottest).
func (in *instance) startWorkload(slugs []string, perSecond int) {
	in.wg.Go(func() { in.runWorkload(slugs, perSecond) })
}

// runWorkload is the automatic workload's loop.
func (in *instance) runWorkload(slugs []string, perSecond int) {
	r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	zipf := rand.NewZipf(r, zipfS, 1, uint64(len(slugs)-1))
	every := time.Second / time.Duration(perSecond)
	next := time.Now()
	var b backoff
	for {
		next = next.Add(every/2 + time.Duration(r.Int64N(int64(every)+1)))
		if time.Until(next) < -time.Second { // far behind: do not catch up
			next = time.Now()
		}
		if !in.sleep(time.Until(next)) {
			return
		}
		ctx, cancel := context.WithTimeout(in.ctx, lookupTimeout)
		err := in.lookup(ctx, slugs[zipf.Uint64()])
		cancel()
		if err != nil {
			if !in.fail(&b, "lookup", err) {
				return
			}
			next = time.Now()
			continue
		}
		b.reset()
	}
}

// connectListener opens the boot's listening connection.
func (in *instance) connectListener(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(in.s.o.ConsoleURL)
	if err != nil {
		return nil, errors.New("cannot parse ConsoleURL (value not shown)")
	}
	cfg.RuntimeParams["application_name"] = in.name
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > bootTimeout {
		cfg.ConnectTimeout = bootTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+switchChannel); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// runListener waits for notifications on ops_kill_switches and has the
// switch re-read on each one about SUSPEND_REDIS, reconnecting (and
// re-reading, since changes may have been missed) after errors.
func (in *instance) runListener() {
	conn := in.listener
	in.listener = nil
	var b backoff
	for {
		if conn == nil {
			ctx, cancel := context.WithTimeout(in.ctx, bootTimeout)
			c, err := in.connectListener(ctx)
			cancel()
			if err != nil {
				if !in.fail(&b, "listen", err) {
					return
				}
				continue
			}
			conn = c
			in.poke()
		}
		var err error
		for {
			var n *pgconn.Notification
			if n, err = conn.WaitForNotification(in.ctx); err != nil {
				break
			}
			b.reset()
			if name, _, _ := strings.Cut(n.Payload, ":"); name == suspendRedis {
				in.poke()
			}
		}
		closeConn(conn)
		conn = nil
		if !in.fail(&b, "listen", err) {
			return
		}
	}
}

// poke asks runSwitch to re-read the switch.
func (in *instance) poke() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// runSwitch re-reads the switch when poked and at least every
// SwitchPollEvery.
func (in *instance) runSwitch() {
	t := time.NewTicker(in.s.o.SwitchPollEvery)
	defer t.Stop()
	for {
		select {
		case <-in.ctx.Done():
			return
		case <-t.C:
		case <-in.wake:
		}
		ctx, cancel := context.WithTimeout(in.ctx, bootTimeout)
		if err := in.refreshSwitch(ctx); err != nil {
			in.logf("switch", "read %s: %v", suspendRedis, err)
		}
		cancel()
	}
}

// refreshSwitch reads SUSPEND_REDIS and applies it; when Postgres does not
// answer, the instance keeps its state with source "cached".
func (in *instance) refreshSwitch(ctx context.Context) error {
	var enabled bool
	var version int64
	err := in.console.QueryRow(ctx, switchSQL).Scan(&enabled, &version)
	switch {
	case err == nil:
		in.apply(true, enabled, &version)
	case errors.Is(err, pgx.ErrNoRows): // no such switch: it is off
		in.apply(true, false, nil)
		err = nil
	case in.ctx.Err() == nil:
		in.apply(false, false, nil)
	}
	return err
}

// apply sets the instance's state from a read of the switch (read false:
// the read failed). Suspending waits for the Redis commands under way.
func (in *instance) apply(read, enabled bool, version *int64) {
	in.mu.Lock()
	old := in.sw
	in.mu.Unlock()
	next := old
	switch {
	case read:
		next.version = version
		next.suspended, next.source = enabled, sourceDatabase
		if in.spec.EnvSuspend {
			next.suspended, next.source = true, sourceEnv
		}
		if old.appliedAt.IsZero() || next.suspended != old.suspended || !sameVersion(next.version, old.version) {
			next.appliedAt = time.Now()
		}
	case !in.spec.EnvSuspend:
		next.source = sourceCached
	}
	if next.suspended != in.suspended.Load() {
		in.gate.Lock()
		in.suspended.Store(next.suspended)
		in.gate.Unlock()
	}
	in.mu.Lock()
	in.sw = next
	in.mu.Unlock()
	if next.suspended != old.suspended || next.source != old.source || !sameVersion(next.version, old.version) {
		v := "none"
		if next.version != nil {
			v = fmt.Sprint(*next.version)
		}
		state := "off"
		if next.suspended {
			state = "on"
		}
		in.s.logf("%s: %s %s (source %s, version %s)", in.spec.ID, suspendRedis, state, next.source, v)
	}
}

// sameVersion reports whether two optional versions are equal.
func sameVersion(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// runHeartbeats sends a heartbeat every HeartbeatEvery.
func (in *instance) runHeartbeats() {
	t := time.NewTicker(in.s.o.HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-in.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(in.ctx, heartbeatTimeout)
		if err := in.heartbeat(ctx); err != nil {
			in.logf("heartbeat", "heartbeat: %v", err)
		}
		cancel()
	}
}

// heartbeat upserts the instance's row of ops.instance_heartbeats.
func (in *instance) heartbeat(ctx context.Context) error {
	in.mu.Lock()
	sw := in.sw
	top := make([]tenantMisses, 0, len(in.tenantMisses))
	for slug, n := range in.tenantMisses {
		top = append(top, tenantMisses{Tenant: slug, Misses: n})
	}
	in.mu.Unlock()
	slices.SortFunc(top, func(a, b tenantMisses) int {
		return cmp.Or(cmp.Compare(b.Misses, a.Misses), cmp.Compare(a.Tenant, b.Tenant))
	})
	topJSON, err := json.Marshal(top[:min(len(top), topMissTenants)])
	if err != nil {
		return err
	}
	var appliedAt *time.Time
	if !sw.appliedAt.IsZero() {
		appliedAt = &sw.appliedAt
	}
	st := in.platform.Stat()
	_, err = in.console.Exec(ctx, heartbeatSQL,
		in.spec.ID, in.spec.Machine, in.spec.Group, in.bootID, in.startedAt, in.s.o.Environment,
		in.s.o.DatabaseIdentity, sw.suspended, sw.source, sw.version, appliedAt,
		in.memoryHits.Load(), in.redisHits.Load(), in.misses.Load(), in.redisCommands.Load(), string(topJSON),
		st.AcquiredConns(), max(0, st.TotalConns()-instancePoolBase), st.CanceledAcquireCount())
	return err
}
