package neon

import (
	"fmt"
	"strconv"
	"strings"
)

// Group is one process group of the platform (api, worker, …) and how many
// connections each of its processes may open.
type Group struct {
	Name string
	// Machines is how many machines run the group.
	Machines int
	// Processes is how many processes (each with its own SQLAlchemy pool)
	// run on one machine.
	Processes int
	// PoolSize and MaxOverflow are DB_POOL_SIZE and DATABASE_MAX_OVERFLOW.
	PoolSize    int
	MaxOverflow int
	// MachinesFrom says where Machines came from: "config" or "fly".
	MachinesFrom string
	// Configured is the group as BUDGET_GROUPS plans it when live inputs
	// replaced it (nil otherwise, or for a group the plan lacks).
	Configured *Group
}

// PerProcess is the most connections one process holds: pool + overflow.
func (g Group) PerProcess() int { return g.PoolSize + g.MaxOverflow }

// Total is the group's term of the budget.
func (g Group) Total() int { return g.Machines * g.Processes * g.PerProcess() }

// Engine is any other connection source with its own maximum: this
// console, cron, migrations, admin scripts.
type Engine struct {
	Name        string
	Connections int
}

// Plan is the connection budget the platform is configured for.
type Plan struct {
	Groups  []Group
	Engines []Engine
}

// Total is Σ machines × processes × (pool + overflow) over the groups,
// plus every other engine.
func (p Plan) Total() int {
	n := 0
	for _, g := range p.Groups {
		n += g.Total()
	}
	for _, e := range p.Engines {
		n += e.Connections
	}
	return n
}

// GuideTotal is the platform guide's formula, machines × (DB_POOL_SIZE +
// DATABASE_MAX_OVERFLOW): it forgets processes per machine and every other
// engine.
func (p Plan) GuideTotal() int {
	n := 0
	for _, g := range p.Groups {
		n += g.Machines * g.PerProcess()
	}
	return n
}

// BreaksAt is the first machine count of group i (the others unchanged)
// at which the plan exceeds limit; 0 when even zero machines of that
// group exceed it, and -1 when one process of the group needs no
// connections.
func (p Plan) BreaksAt(i, limit int) int {
	g := p.Groups[i]
	per := g.Processes * g.PerProcess()
	if per <= 0 {
		return -1
	}
	rest := p.Total() - g.Total()
	if rest > limit {
		return 0
	}
	return (limit-rest)/per + 1
}

// Limits for parsing what-if and configuration input.
const (
	MaxMachines  = 1000
	MaxProcesses = 256
	MaxPool      = 10000
	MaxEngines   = 100000
)

// ParseGroups reads BUDGET_GROUPS, e.g.
// "api:machines=4,processes=2;worker:machines=2,processes=1,pool=10,overflow=0".
// pool and overflow default to poolSize and maxOverflow.
func ParseGroups(s string, poolSize, maxOverflow int) ([]Group, error) {
	var out []Group
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, spec, ok := strings.Cut(part, ":")
		name = strings.TrimSpace(name)
		if !ok || !validName(name) {
			return nil, fmt.Errorf("group %q: want name:machines=N,processes=N[,pool=N,overflow=N]", part)
		}
		if seen[name] {
			return nil, fmt.Errorf("group %q is listed twice", name)
		}
		seen[name] = true
		g := Group{Name: name, Machines: -1, Processes: 1, PoolSize: poolSize, MaxOverflow: maxOverflow, MachinesFrom: "config"}
		for _, kv := range strings.Split(spec, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				return nil, fmt.Errorf("group %s: %q is not key=value", name, kv)
			}
			var max int
			var dst *int
			switch strings.TrimSpace(k) {
			case "machines":
				dst, max = &g.Machines, MaxMachines
			case "processes":
				dst, max = &g.Processes, MaxProcesses
			case "pool":
				dst, max = &g.PoolSize, MaxPool
			case "overflow":
				dst, max = &g.MaxOverflow, MaxPool
			default:
				return nil, fmt.Errorf("group %s: unknown key %q (machines, processes, pool, overflow)", name, k)
			}
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 || n > max {
				return nil, fmt.Errorf("group %s: %s=%q; want a whole number from 0 to %d", name, k, v, max)
			}
			*dst = n
		}
		if g.Machines < 0 {
			return nil, fmt.Errorf("group %s: machines is required", name)
		}
		out = append(out, g)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no process groups given")
	}
	return out, nil
}

// ParseEngines reads BUDGET_OTHER_ENGINES, e.g. "atum-console=14,cron=5".
func ParseEngines(s string) ([]Engine, error) {
	var out []Engine
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, v, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || !validName(name) || err != nil || n < 0 || n > MaxEngines {
			return nil, fmt.Errorf("engine %q: want name=N with N from 0 to %d", part, MaxEngines)
		}
		out = append(out, Engine{Name: name, Connections: n})
	}
	return out, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// ComputeMaxConnections is Neon's max_connections for an autoscaling range
// of compute units: compute_size = min(max, 8 × min), then
// max(100, min(4000, floor(compute_size × 419.66))).
func ComputeMaxConnections(minCU, maxCU float64) int {
	size := min(maxCU, 8*minCU)
	n := int(size * 419.66)
	return max(100, min(4000, n))
}

// PoolerClientLimit is max_client_conn of Neon's pooler, on every plan.
const PoolerClientLimit = 10000

// PerPoolLimit is Neon's default_pool_size: server connections per
// (user, database) pool through the pooler, floor(0.9 × max_connections).
func PerPoolLimit(maxConnections int) int { return maxConnections * 9 / 10 }

// IsPooled reports whether a Neon connection string goes through the
// pooler: the endpoint id in the host name ends in "-pooler".
func IsPooled(host string) bool {
	first, _, _ := strings.Cut(host, ".")
	return strings.HasSuffix(first, "-pooler")
}
