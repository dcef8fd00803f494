package rediscache

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Counters are tenant-cache lookups by layer and the Redis commands the
// platform sent.
type Counters struct {
	MemoryHits    int64
	RedisHits     int64
	Misses        int64
	RedisCommands int64
}

// Lookups is every tenant lookup: hits in either layer plus misses.
func (c Counters) Lookups() int64 { return c.MemoryHits + c.RedisHits + c.Misses }

// Percent is n as a share of all lookups, in percent; 0 without lookups.
func (c Counters) Percent(n int64) float64 {
	if c.Lookups() == 0 {
		return 0
	}
	return float64(n) * 100 / float64(c.Lookups())
}

func (c *Counters) add(o Counters) {
	c.MemoryHits += o.MemoryHits
	c.RedisHits += o.RedisHits
	c.Misses += o.Misses
	c.RedisCommands += o.RedisCommands
}

// Total sums counters over instances.
func Total(per map[string]Counters) Counters {
	var t Counters
	for _, c := range per {
		t.add(c)
	}
	return t
}

// Instance is one platform instance's latest heartbeat.
type Instance struct {
	ID          string
	Machine     string
	Group       string
	BootID      string
	Environment string
	DatabaseID  string
	Suspended   bool
	Source      string
	LastSeen    time.Time
	TopMisses   []TenantMisses
}

// TenantMisses is a tenant's misses to the database.
type TenantMisses struct {
	Tenant string `json:"tenant"`
	Misses int64  `json:"misses"`
}

// Instances returns every heartbeat row seen since since.
func Instances(ctx context.Context, db Querier, since time.Time) ([]Instance, error) {
	rows, err := db.Query(ctx, `
		SELECT instance_id, machine_id, process_group, boot_id, environment, database_identity, suspend_redis,
		       suspend_redis_source, reported_at, top_miss_tenants
		FROM ops.instance_heartbeats WHERE reported_at >= $1 ORDER BY process_group, machine_id, instance_id`, since)
	if err != nil {
		return nil, fmt.Errorf("rediscache: instances: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Instance, error) {
		var i Instance
		var top []byte
		err := r.Scan(&i.ID, &i.Machine, &i.Group, &i.BootID, &i.Environment, &i.DatabaseID, &i.Suspended, &i.Source, &i.LastSeen, &top)
		if err == nil && len(top) > 0 {
			if jerr := json.Unmarshal(top, &i.TopMisses); jerr != nil {
				i.TopMisses = nil // a malformed report loses its top list, not the page
			}
		}
		return i, err
	})
}

// TopTenants sums the instances' top tenants by misses and returns the n
// largest.
func TopTenants(instances []Instance, n int) []TenantMisses {
	sum := map[string]int64{}
	for _, i := range instances {
		for _, t := range i.TopMisses {
			if t.Tenant != "" && t.Misses > 0 {
				sum[t.Tenant] += t.Misses
			}
		}
	}
	out := make([]TenantMisses, 0, len(sum))
	for t, m := range sum {
		out = append(out, TenantMisses{Tenant: t, Misses: m})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Misses != out[j].Misses {
			return out[i].Misses > out[j].Misses
		}
		return out[i].Tenant < out[j].Tenant
	})
	return out[:min(n, len(out))]
}

// Point is the fleet's counters gained over one minute.
type Point struct {
	At time.Time
	Counters
}

// Jump reports whether an instance's Redis commands per minute over the
// last few minutes (recent) jumped against its rate before (before): at
// least three times higher and at least one command a second.
func Jump(recentPerMin, beforePerMin float64) bool {
	return recentPerMin >= 60 && recentPerMin >= 3*beforePerMin
}

// Baseline is the Redis commands per minute an instance's recent rate is
// judged against: its own rate in the hour before when it reported then
// (before holds it); for an instance without that history (a new machine,
// the first boot the console sees) the median recent rate of the other
// instances of its process group, else of the whole fleet. A deploy that
// restarts every instance at normal rates therefore raises nothing. From
// says which ("own", "group", "fleet"); ok is false when there is nothing
// to compare with: no rule fires without a baseline.
func Baseline(id string, recent, before map[string]float64, group map[string]string) (perMin float64, from string, ok bool) {
	if b, had := before[id]; had {
		return b, "own", true
	}
	var peers, fleet []float64
	for other, r := range recent {
		if other == id {
			continue
		}
		fleet = append(fleet, r)
		if group[other] == group[id] {
			peers = append(peers, r)
		}
	}
	switch {
	case len(peers) > 0:
		return median(peers), "group", true
	case len(fleet) > 0:
		return median(fleet), "fleet", true
	}
	return 0, "", false
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// PruneInstances deletes the heartbeat rows of instances that have not
// reported for a day.
func PruneInstances(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, `DELETE FROM ops.instance_heartbeats WHERE reported_at < now() - interval '1 day'`); err != nil {
		return fmt.Errorf("rediscache: prune heartbeats: %w", err)
	}
	return nil
}
