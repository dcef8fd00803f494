package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Timings of the simulated database load.
const (
	// lightMin and lightMax bound the pause between two light queries of
	// a process.
	lightMin, lightMax = 200 * time.Millisecond, 500 * time.Millisecond
	// queryTimeout bounds one light query, including the time it queues
	// in PgBouncer.
	queryTimeout = 15 * time.Second
	// lockCycle is how long the blocker holds the row lock before it
	// commits and takes it again, letting the current waiter finish.
	lockCycle = 60 * time.Second
	// waiterPause is how long the waiter rests after its update went
	// through, so that the blocker takes the lock again first.
	waiterPause = 250 * time.Millisecond
	// checkEvery is how often a held transaction checks, without sending
	// anything, that the server has not ended its connection.
	checkEvery = time.Second
	// backoffMin and backoffMax bound the pause after an error.
	backoffMin, backoffMax = 100 * time.Millisecond, 2 * time.Second
	// cleanupTimeout bounds the statements Stop runs after the workers
	// have ended (rollbacks, commits, relabelling).
	cleanupTimeout = 2 * time.Second
	// relabelConns bounds the connections Stop opens to relabel
	// PgBouncer's server connections.
	relabelConns = 64
	// firstPID is the fake pid of the first simulated process.
	firstPID = 1000
)

// Busy clients run this statement in a loop.
const busySQL = `SELECT pg_sleep(0.5)`

// ConnectionsOptions sizes the simulated fleet's database load.
type ConnectionsOptions struct {
	// URL is the pooled connection string (through PgBouncer) the
	// simulated processes use. Transaction pooling does not support named
	// prepared statements, so unless the URL picks a
	// default_query_exec_mode the processes use "exec".
	URL string
	// Groups are the fleet's process groups, e.g.
	// {Name: "api", Machines: 3, Processes: 2, Pool: 3, Overflow: 2} and
	// {Name: "worker", Machines: 2, Processes: 1, Pool: 2, Overflow: 1}.
	Groups []SimGroup
	// IdleInTx is how many sessions sit idle in an open transaction. They
	// are taken from the "api" group's processes (the first group's when
	// there is no "api" group), spread over them.
	IdleInTx int
	// LockWait creates one blocker, a process of the "worker" group (the
	// last group's when there is none) holding a row lock of table
	// sim_locks in an open transaction, and one waiter, an "api" process
	// whose update waits for that lock.
	LockWait bool
	// Busy is how many extra clients, each its own process of group
	// "worker" on machine m-batch-1, run `SELECT pg_sleep(0.5)` in a loop.
	// More than PgBouncer's default_pool_size (20) of them make clients
	// queue for a server connection (cl_waiting > 0 in SHOW POOLS).
	Busy int
	// Log, if not nil, receives one line per transient error.
	Log io.Writer
}

// SimGroup is a group of identical processes of the simulated platform,
// such as its API servers. Each of its Machines (named m-<Name>-1,
// m-<Name>-2, …) runs Processes processes, and each process holds a
// SQLAlchemy-style pool of Pool connections that may grow by Overflow.
type SimGroup struct {
	// Name is the group's part of application_name, e.g. "api".
	Name string
	// Machines is how many machines run the group's processes.
	Machines int
	// Processes is how many processes each machine runs.
	Processes int
	// Pool is a process's base pool size (MinConns).
	Pool int
	// Overflow is how many connections a pool may add to Pool (MaxConns
	// is Pool+Overflow).
	Overflow int
}

// Connections is a running simulated fleet started by StartConnections.
// Its methods may be called from several goroutines.
type Connections struct {
	url       string
	log       io.Writer
	logMu     sync.Mutex
	ctx       context.Context
	cancel    context.CancelFunc
	stopWatch func() bool // unregisters the parent-context watcher
	wg        sync.WaitGroup
	procs     []*simProcess
	stopOnce  sync.Once
}

// simProcess is one simulated process and its connection pool.
type simProcess struct {
	name string // application_name, service:group:machine:pid
	pool *pgxpool.Pool
}

// StartConnections starts the simulated fleet described by o: one pgx pool
// per process on o.URL, with application_name atum:<group>:<machine>:<pid>,
// MaxConns Pool+Overflow and MinConns Pool, and a light query every 200 to
// 500 ms per process (a count of tenants, or SELECT 1 when that table does
// not exist); plus the idle-in-transaction sessions, lock wait and busy
// clients o asks for. It returns once it has reached the database and
// created sim_locks (for LockWait); the load then runs in the background
// until Stop is called or ctx is cancelled. Transient errors are written
// to o.Log and retried.
func StartConnections(ctx context.Context, o ConnectionsOptions) (*Connections, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	c := &Connections{url: o.URL, log: o.Log}
	pid := firstPID
	newProc := func(group, machine string, size, minConns int) error {
		p, err := c.newProcess(fmt.Sprintf("atum:%s:%s:%d", group, machine, pid), size, minConns)
		pid++
		if err != nil {
			return err
		}
		c.procs = append(c.procs, p)
		return nil
	}
	var fleet, api, workers []*simProcess
	for _, g := range o.Groups {
		for m := 1; m <= g.Machines; m++ {
			for range g.Processes {
				if err := newProc(g.Name, fmt.Sprintf("m-%s-%d", g.Name, m), g.Pool+g.Overflow, g.Pool); err != nil {
					c.closePools()
					return nil, err
				}
				p := c.procs[len(c.procs)-1]
				fleet = append(fleet, p)
				switch g.Name {
				case "api":
					api = append(api, p)
				case "worker":
					workers = append(workers, p)
				}
			}
		}
	}
	if len(api) == 0 {
		first := o.Groups[0]
		api = fleet[:first.Machines*first.Processes]
	}
	if len(workers) == 0 {
		last := o.Groups[len(o.Groups)-1]
		workers = fleet[len(fleet)-last.Machines*last.Processes:]
	}
	for range o.Busy {
		if err := newProc("worker", "m-batch-1", 1, 1); err != nil {
			c.closePools()
			return nil, err
		}
	}
	busy := c.procs[len(fleet):]

	light, err := c.prepare(ctx, fleet[0].pool, o.LockWait)
	if err != nil {
		c.closePools()
		return nil, err
	}

	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, p := range fleet {
		c.spawn(func() { c.runLight(p, light) })
	}
	for i := range o.IdleInTx {
		p := api[i%len(api)]
		c.spawn(func() { c.runIdleInTx(p, light) })
	}
	if o.LockWait {
		blocker := workers[0]
		waiter := api[len(api)-1]
		c.spawn(func() { c.runBlocker(blocker) })
		c.spawn(func() { c.runWaiter(waiter) })
	}
	for _, p := range busy {
		c.spawn(func() { c.runBusy(p) })
	}
	c.stopWatch = context.AfterFunc(ctx, c.shutdown)
	return c, nil
}

// validate checks the options.
func (o *ConnectionsOptions) validate() error {
	if o.URL == "" {
		return errors.New("sim: connections: no URL")
	}
	if len(o.Groups) == 0 {
		return errors.New("sim: connections: no groups")
	}
	for _, g := range o.Groups {
		if g.Name == "" || strings.ContainsAny(g.Name, ": ") {
			return fmt.Errorf("sim: connections: bad group name %q", g.Name)
		}
		if g.Machines < 1 || g.Processes < 1 || g.Pool < 1 || g.Overflow < 0 {
			return fmt.Errorf("sim: connections: group %s needs machines, processes and pool >= 1 and overflow >= 0", g.Name)
		}
	}
	if o.IdleInTx < 0 || o.Busy < 0 {
		return errors.New("sim: connections: negative IdleInTx or Busy")
	}
	return nil
}

// newProcess creates the pool of the process called name. Its connections
// are made in the background.
func (c *Connections) newProcess(name string, size, minConns int) (*simProcess, error) {
	cfg, err := c.poolConfig()
	if err != nil {
		return nil, fmt.Errorf("sim: connections: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = name
	cfg.MaxConns = int32(size)
	cfg.MinConns = int32(minConns)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("sim: connections: %s: %w", name, err)
	}
	return &simProcess{name: name, pool: pool}, nil
}

// poolConfig parses the URL into a pool configuration without an
// application_name, using exec mode (no named prepared statements, which
// transaction pooling breaks) unless the URL picks a mode.
func (c *Connections) poolConfig() (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(c.url)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(c.url, "default_query_exec_mode") {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	delete(cfg.ConnConfig.RuntimeParams, "application_name")
	return cfg, nil
}

// prepare checks that the database answers, creates sim_locks when
// lockWait is set, and returns the light query: a count of tenants when
// that table exists, else SELECT 1.
func (c *Connections) prepare(ctx context.Context, pool *pgxpool.Pool, lockWait bool) (string, error) {
	var tenants bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('tenants') IS NOT NULL`).Scan(&tenants); err != nil {
		return "", fmt.Errorf("sim: connections: %w", err)
	}
	if lockWait {
		_, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS sim_locks (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)`)
		if err != nil && !isUniqueViolation(err) { // a concurrent CREATE can collide on pg_type
			return "", fmt.Errorf("sim: connections: create sim_locks: %w", err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO sim_locks (id, n) VALUES (1, 0) ON CONFLICT DO NOTHING`); err != nil {
			return "", fmt.Errorf("sim: connections: fill sim_locks: %w", err)
		}
	}
	if tenants {
		return `SELECT count(*) FROM tenants`, nil
	}
	return `SELECT 1`, nil
}

// Processes returns the application_names of the simulated processes,
// busy clients included, in start order.
func (c *Connections) Processes() []string {
	names := make([]string, len(c.procs))
	for i, p := range c.procs {
		names[i] = p.name
	}
	return names
}

// Stop ends the simulation: it stops every goroutine, rolling back the
// held transactions and interrupting running statements by closing their
// connections (pgx's default; cancel requests are avoided because
// PgBouncer 1.18 can crash when a client leaves while its cancel request
// is under way), closes every pool, and then resets PgBouncer's idle
// server connections that still carry a simulated application_name
// (PgBouncer does not reset a server connection when its client leaves,
// so it would otherwise keep showing the name of the last process that
// used it). It returns when all that is done, typically in well under a
// second and at most about three. Stop is idempotent; it also runs when
// the context given to StartConnections is cancelled.
func (c *Connections) Stop() {
	c.stopWatch()
	c.shutdown()
}

// shutdown does Stop's work once; it runs in its own goroutine when the
// context given to StartConnections is cancelled.
func (c *Connections) shutdown() {
	c.stopOnce.Do(func() {
		c.cancel()
		c.wg.Wait()
		c.closePools()
		c.relabel()
	})
}

// closePools closes every process's pool, in parallel.
func (c *Connections) closePools() {
	var wg sync.WaitGroup
	for _, p := range c.procs {
		wg.Go(p.pool.Close)
	}
	wg.Wait()
}

// relabel resets the application_name of PgBouncer's idle server
// connections that still show one of the simulated processes' names in
// pg_stat_activity. PgBouncer sets a server connection's application_name
// to its client's when it hands it over and never resets it, and it sends
// nothing for a client without a name; so each round runs, from as many
// clients at once as there may be idle server connections (each then gets
// one of its own), RESET application_name followed by a short sleep, which
// gives the server connections the empty name they started with.
func (c *Connections) relabel() {
	if len(c.procs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	cfg, err := c.poolConfig()
	if err != nil {
		return
	}
	cfg.MaxConns = relabelConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return
	}
	defer pool.Close()
	names := c.Processes()
	for ctx.Err() == nil {
		// idle counts every idle session of this database and user, an
		// upper bound of PgBouncer's idle server connections; the one
		// running this query is idle again once it has answered.
		var labelled, idle int
		err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE application_name = ANY($1)), count(*)
			FROM pg_stat_activity
			WHERE datname = current_database() AND usename = current_user
			  AND (state = 'idle' OR pid = pg_backend_pid())`, names).Scan(&labelled, &idle)
		if err != nil || labelled == 0 {
			return
		}
		var wg sync.WaitGroup
		for range min(idle, relabelConns) {
			// Without arguments pgx sends this as one simple query,
			// which PgBouncer runs on one server connection.
			wg.Go(func() { _, _ = pool.Exec(ctx, `RESET application_name; SELECT pg_sleep(0.1)`) })
		}
		wg.Wait()
	}
}

// spawn runs f in a goroutine Stop waits for.
func (c *Connections) spawn(f func()) {
	c.wg.Go(f)
}

// logf writes a line to the log unless the simulation is stopping.
func (c *Connections) logf(format string, args ...any) {
	if c.log == nil || c.ctx.Err() != nil {
		return
	}
	c.logMu.Lock()
	defer c.logMu.Unlock()
	fmt.Fprintf(c.log, "sim: "+format+"\n", args...)
}

// sleep waits for d or until the simulation stops, and reports whether it
// is still running.
func (c *Connections) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is a capped exponential pause after errors.
type backoff struct{ d time.Duration }

// next returns the pause after one more error.
func (b *backoff) next() time.Duration {
	b.d = min(max(2*b.d, backoffMin), backoffMax)
	return b.d/2 + rand.N(b.d/2+1)
}

// reset forgets earlier errors.
func (b *backoff) reset() { b.d = 0 }

// fail logs err (unless the simulation is stopping) and pauses; it
// reports whether the simulation is still running.
func (c *Connections) fail(b *backoff, who string, err error) bool {
	if c.ctx.Err() != nil {
		return false
	}
	c.logf("%s: %v", who, err)
	return c.sleep(b.next())
}

// jitter returns a random duration in [lo, hi).
func jitter(lo, hi time.Duration) time.Duration {
	return lo + rand.N(hi-lo)
}

// runLight runs the process's light workload: query every 200 to 500 ms.
func (c *Connections) runLight(p *simProcess, query string) {
	var b backoff
	for c.sleep(jitter(lightMin, lightMax)) {
		ctx, cancel := context.WithTimeout(c.ctx, queryTimeout)
		var n int64
		err := p.pool.QueryRow(ctx, query).Scan(&n)
		cancel()
		if err != nil {
			if !c.fail(&b, p.name, err) {
				return
			}
			continue
		}
		b.reset()
	}
}

// runBusy runs `SELECT pg_sleep(0.5)` back to back.
func (c *Connections) runBusy(p *simProcess) {
	var b backoff
	for c.ctx.Err() == nil {
		if _, err := p.pool.Exec(c.ctx, busySQL); err != nil {
			if !c.fail(&b, p.name, err) {
				return
			}
			continue
		}
		b.reset()
	}
}

// runIdleInTx keeps one transaction of p open and idle, opening a new one
// whenever the server or PgBouncer ends the connection.
func (c *Connections) runIdleInTx(p *simProcess, query string) {
	var b backoff
	for c.ctx.Err() == nil {
		err := c.holdTx(p, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, query)
			return err
		}, 0)
		if err != nil {
			if !c.fail(&b, p.name+" (idle in transaction)", err) {
				return
			}
			continue
		}
		b.reset()
	}
}

// runBlocker holds the row lock on sim_locks in an open transaction of p,
// committing and taking it again every lockCycle.
func (c *Connections) runBlocker(p *simProcess) {
	var b backoff
	for c.ctx.Err() == nil {
		err := c.holdTx(p, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `SELECT n FROM sim_locks WHERE id = 1 FOR UPDATE`)
			return err
		}, lockCycle)
		if err != nil {
			if !c.fail(&b, p.name+" (lock blocker)", err) {
				return
			}
			continue
		}
		b.reset()
	}
}

// holdTx acquires a connection of p, begins a transaction, runs start in
// it and keeps the transaction open and idle for hold (until the
// simulation stops when hold is 0), checking without sending anything
// that the connection stays up. It then commits (after hold) or rolls
// back (when stopping). It returns the error that ended the transaction
// early, or nil.
func (c *Connections) holdTx(p *simProcess, start func(context.Context, pgx.Tx) error, hold time.Duration) error {
	conn, err := p.pool.Acquire(c.ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	ctx, cancel := context.WithTimeout(c.ctx, queryTimeout)
	tx, err := conn.Begin(ctx)
	if err == nil {
		if err = start(ctx, tx); err != nil {
			rollback(tx)
		}
	}
	cancel()
	if err != nil {
		return err
	}
	var until <-chan time.Time
	if hold > 0 {
		t := time.NewTimer(hold)
		defer t.Stop()
		until = t.C
	}
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	for {
		select {
		case <-c.ctx.Done():
			rollback(tx)
			return nil
		case <-until:
			ctx, cancel := context.WithTimeout(c.ctx, queryTimeout)
			defer cancel()
			return tx.Commit(ctx)
		case <-tick.C:
			// CheckConn reads with a very short deadline and sends
			// nothing, so the session stays idle in transaction
			// (a ping would make it active and reset state_change).
			if err := conn.Conn().PgConn().CheckConn(); err != nil {
				return fmt.Errorf("held transaction ended: %w", err)
			}
		}
	}
}

// rollback rolls tx back, bounded by cleanupTimeout even when the
// simulation is stopping.
func rollback(tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_ = tx.Rollback(ctx)
}

// runWaiter keeps an update of p waiting for the blocker's row lock: each
// update waits (up to lock_timeout) until the blocker commits, then the
// waiter commits, rests briefly and queues again.
func (c *Connections) runWaiter(p *simProcess) {
	var b backoff
	for c.sleep(waiterPause) {
		err := pgx.BeginFunc(c.ctx, p.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(c.ctx, `SET LOCAL lock_timeout = '5min'`); err != nil {
				return err
			}
			_, err := tx.Exec(c.ctx, `UPDATE sim_locks SET n = n + 1 WHERE id = 1`)
			return err
		})
		if err != nil {
			if !c.fail(&b, p.name+" (lock waiter)", err) {
				return
			}
			continue
		}
		b.reset()
	}
}

// isUniqueViolation reports whether err is a unique_violation (23505).
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
