package alerts

import (
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Link is a step one click away from an alert: what it does and where.
type Link struct {
	Label string
	Href  string
}

// Runbook says what a rule means, why it has fired on this platform
// before, and the safe first action.
type Runbook struct {
	Rule    string
	Title   string
	Meaning string
	Causes  []string
	// actions builds the links for one alert from its subject and members;
	// the first link is the action to take first.
	actions func(a Alert) []Link
}

// Actions are the safe actions for alert a of this runbook's rule, the
// first to try first. An alert with no subject (as on the runbook's
// own page) gets the screen where the subject can be found.
func (r Runbook) Actions(a Alert) []Link {
	return r.actions(a)
}

// switchHref is the SUSPEND_REDIS switch's panel.
const switchHref = "/switches#switch-SUSPEND_REDIS"

var (
	suspendRedis = Link{Label: "Open the SUSPEND_REDIS switch", Href: switchHref}
	cacheScreen  = Link{Label: "Open the Cache screen", Href: "/cache"}
	connScreen   = Link{Label: "Open the Connections screen", Href: "/connections"}
	fleetScreen  = Link{Label: "Open the Fleet screen", Href: "/fleet"}
)

// fixed is an action builder that ignores the alert.
func fixed(links ...Link) func(Alert) []Link {
	return func(Alert) []Link { return links }
}

// whatIf opens the Connections screen's what-if calculator with q filled
// in (fields left out keep the current plan's values).
func whatIf(label string, q url.Values) Link {
	q.Set("whatif", "1")
	return Link{Label: label, Href: "/connections?" + q.Encode() + "#whatif"}
}

// maxMachineLinks bounds the machine links of one grouped alert.
const maxMachineLinks = 5

// machines lists the alert's machine ids: its members when grouped, else
// its subject. A subject that is a sentence (a finding about no single
// machine) is not an id.
func machines(a Alert) []string {
	ids := a.Members
	if !strings.HasPrefix(a.Subject, "group:") {
		ids = []string{a.Subject}
	}
	var out []string
	for _, id := range ids {
		if id != "" && len(id) <= 64 && !strings.ContainsAny(id, " \t\r\n/") && len(out) < maxMachineLinks {
			out = append(out, id)
		}
	}
	return out
}

// machineLinks links each of the alert's machines, else the fleet.
// approvalLinks opens the request an approval alert is about (its
// subject is purge:<id> or retry:<id>), else the Queues screen.
func approvalLinks(a Alert) []Link {
	_, id, _ := strings.Cut(a.Subject, ":")
	if id != "" && strings.Trim(id, "0123456789") == "" {
		return []Link{{Label: "Review the request", Href: "/queues/purges/" + id}}
	}
	return []Link{{Label: "Open the Queues screen", Href: "/queues"}}
}

func machineLinks(a Alert) []Link {
	var out []Link
	for _, id := range machines(a) {
		out = append(out, Link{Label: "Open machine " + id, Href: "/fleet/machines/" + url.PathEscape(id)})
	}
	if len(out) == 0 {
		out = append(out, fleetScreen)
	}
	return out
}

// thenMachines puts first before the alert's machine links.
func thenMachines(first Link) func(Alert) []Link {
	return func(a Alert) []Link { return append([]Link{first}, machineLinks(a)...) }
}

// systemScreens is where each watched system is shown, by its key.
var systemScreens = map[string]Link{
	"postgres":  {Label: "Open the Overview", Href: "/"},
	"platform":  connScreen,
	"pgbouncer": connScreen,
	"redis":     cacheScreen,
	"qstash":    {Label: "Open the Queues screen", Href: "/queues"},
	"fly":       fleetScreen,
}

// systemScreen links the unreachable system's screen; Redis adds the
// switch that takes the platform off it.
func systemScreen(a Alert) []Link {
	l, ok := systemScreens[a.Subject]
	if !ok {
		return []Link{{Label: "Open the Overview", Href: "/"}}
	}
	if a.Subject == "redis" {
		return []Link{l, suspendRedis}
	}
	return []Link{l}
}

// switchPanel links the switch the alert names (SUSPEND_REDIS when none).
func switchPanel(a Alert) []Link {
	name := a.Subject
	if name == "" || strings.ContainsAny(name, " #/?") {
		name = "SUSPEND_REDIS"
	}
	return []Link{{Label: "Open the " + name + " switch", Href: "/switches#switch-" + url.PathEscape(name)}}
}

// runbookList is every rule the console raises, with its runbook.
var runbookList = []Runbook{
	{Rule: "connections.sample_failed", Title: "The platform database could not be read",
		Meaning: "The last connection sample failed: the budget, live usage and waiting clients shown are old, and connection alerts cannot fire.",
		Causes: []string{
			"The Neon compute is suspended, restarting or scaling, or the platform database is down.",
			"The console's read-only role lost its password or grants (a rotated secret not redeployed).",
			"Every connection slot is taken: the console itself cannot connect (pool exhaustion).",
		},
		actions: fixed(connScreen)},
	{Rule: "connections.live", Title: "Live connections near the limit",
		Meaning: "Connections open on the platform database are at 80 % (warning) or 95 % (critical) of the usable direct slots; past 100 % new connections are refused.",
		Causes: []string{
			"More machines or processes than the budget plans for (a scale-up, a deploy overlapping old and new machines).",
			"A crash loop: every boot opens a fresh pool while the dead one's connections linger.",
			"Sessions idle in transaction or long transactions holding connections.",
			"Another engine (cron, migrations, a script) connecting directly.",
		},
		actions: fixed(Link{Label: "See who holds the connections", Href: "/connections"}, fleetScreen)},
	{Rule: "connections.planned", Title: "Planned budget near the limit",
		Meaning: "machines × processes × (DB_POOL_SIZE + DATABASE_MAX_OVERFLOW) plus the other engines comes close to (or past) the limit: at full load the fleet would run out of connections.",
		Causes: []string{
			"The fleet was scaled (more machines or processes) without redoing the budget; the guide's formula forgets processes per machine and the other engines.",
			"DB_POOL_SIZE or DATABASE_MAX_OVERFLOW was raised on one process group.",
			"The Neon compute was resized and its max_connections fell.",
		},
		actions: fixed(whatIf("Try it in the what-if calculator", url.Values{}))},
	{Rule: "connections.waiting", Title: "Clients waiting in PgBouncer",
		Meaning: "Clients are queued in PgBouncer for a server connection: requests stall now, and time out if the wait grows.",
		Causes: []string{
			"Pool exhaustion: the fleet's pools together ask for more than PgBouncer's pool to the database holds.",
			"Long transactions or sessions idle in transaction keep server connections busy.",
			"A restart storm: every restarting process opens its whole pool at once.",
		},
		actions: fixed(whatIf("Try the guide's pool settings in the what-if calculator",
			url.Values{"pool": {"15"}, "overflow": {"5"}}), connScreen)},
	{Rule: "connections.compute", Title: "Compute size and max_connections disagree",
		Meaning: "The configured Neon compute range gives a different max_connections than the server reports: the budget is judged against the wrong limit.",
		Causes: []string{
			"The compute was resized in Neon and NEON_COMPUTE_MIN_CU and NEON_COMPUTE_MAX_CU were not updated.",
			"The server's max_connections was set by hand.",
		},
		actions: fixed(whatIf("Check the limit in the what-if calculator", url.Values{}))},
	{Rule: "connections.no_pg_monitor", Title: "The console cannot see other roles' sessions",
		Meaning: "The console's database role lacks pg_monitor: states, ages and queries of the platform's sessions are hidden, so idle-in-transaction and long transactions cannot be found.",
		Causes:  []string{"The read-only role was created without GRANT pg_monitor."},
		actions: fixed(connScreen)},

	{Rule: "switch.on", Title: "SUSPEND_REDIS is on",
		Meaning: "The platform bypasses Redis and serves tenant lookups from each process's memory, falling back to Postgres: more database load, no shared cache.",
		Causes: []string{
			"An operator turned it on during a Redis incident (a crash loop's reads, Redis down) and it is still on.",
			"It was forgotten after the incident: turn it off once Redis and the fleet are healthy.",
		},
		actions: switchPanel},
	{Rule: "switch.not_applied", Title: "A switch change is not applied everywhere",
		Meaning: "Some live platform instances still report the old value more than 15 s after the change: they keep hitting (or bypassing) Redis.",
		Causes: []string{
			"Instances cannot read ops.kill_switches (database unreachable): they keep the last value.",
			"SUSPEND_REDIS set in an instance's environment, which overrides the database.",
			"An old build that does not read the switch, or an instance that stopped sending heartbeats.",
		},
		actions: func(a Alert) []Link { return append(switchPanel(a), fleetScreen) }},

	{Rule: "cache.redis_budget", Title: "Redis commands over the daily budget",
		Meaning: "The platform's Redis commands, projected over 24 h, exceed REDIS_DAILY_COMMAND_BUDGET: the Upstash bill and rate limits follow.",
		Causes: []string{
			"A crash loop: every boot initialised background services with Redis pings and metadata reads (the April incident made 12M+ reads in 24 h).",
			"Tenant lookups missing the memory cache (a deploy emptied it, or a bug bypasses it).",
			"More instances than usual.",
		},
		actions: fixed(cacheScreen, suspendRedis)},
	{Rule: "cache.redis_jump", Title: "An instance's Redis commands jumped",
		Meaning: "Instances issue far more Redis commands than their process group's median (or the fleet's): something new is hammering Redis.",
		Causes: []string{
			"The instance restarts over and over (a crash loop): each boot repeats its Redis initialisation.",
			"Its memory cache is cold or disabled, so every tenant lookup goes to Redis.",
			"A new build with a Redis call in a hot path.",
		},
		actions: fixed(cacheScreen, suspendRedis)},

	{Rule: "fleet.crash-loop", Title: "Machines are crash-looping",
		Meaning: "A machine exits with failures again and again (or Fly gave up restarting it); every boot hits Redis and Postgres.",
		Causes: []string{
			"A startup error (the April incident: a SQLAlchemy MapperConfigurationError on a relationship) crashing every boot.",
			"A missing or wrong secret or setting in a new release.",
			"Out of memory at start.",
			"Its restarts leave dead letters and retries in QStash: check the Queues screen afterwards.",
		},
		actions: thenMachines(suspendRedis)},
	{Rule: "fleet.environment", Title: "A machine runs without ENVIRONMENT=production",
		Meaning: "The machine's ENVIRONMENT is unset or wrong: the app may silently fall back to a local database.",
		Causes: []string{
			"ENVIRONMENT missing from one fly.toml (the April incident: the app fell back to a local SQLite file and a real customer \"disappeared\" behind empty workspaces).",
			"A machine created or updated by hand with a partial configuration.",
			"A secret named ENVIRONMENT overriding the configured value.",
		},
		actions: machineLinks},
	{Rule: "fleet.drift", Title: "Configuration differs within a process group",
		Meaning: "A setting compared across machines (pool sizes, image, the drift keys) has different values on machines of the same group.",
		Causes: []string{
			"The api and worker configurations drifted apart (separate fly.toml files edited one at a time).",
			"A rolling deploy half done, or a machine updated by hand.",
		},
		actions: fixed(Link{Label: "Open the drift table", Href: "/fleet#drift"})},
	{Rule: "fleet.image", Title: "A process group runs several images",
		Meaning: "Machines of one group run different images: some run old code.",
		Causes:  []string{"A deploy that failed part-way.", "A machine that was not replaced by the last deploy."},
		actions: fixed(fleetScreen)},
	{Rule: "fleet.group", Title: "A process group differs from the plan",
		Meaning: "Fly lists a process group the budget does not plan for, or none of a group it does: the connection budget is wrong.",
		Causes: []string{
			"The app split or re-unified (fly.api.toml and fly.worker.toml against one fly.toml) without updating BUDGET_GROUPS.",
			"A group scaled to zero or destroyed by a deploy.",
		},
		actions: fixed(fleetScreen, whatIf("Check the budget in the what-if calculator", url.Values{}))},
	{Rule: "fleet.heartbeat", Title: "A running machine sends no heartbeat",
		Meaning: "Fly says the machine runs but it writes no heartbeat to this database.",
		Causes: []string{
			"It talks to another database (ENVIRONMENT or DATABASE_URL wrong: the silent fallback).",
			"An old build without heartbeats, or the process is stuck before it starts them.",
		},
		actions: machineLinks},
	{Rule: "fleet.no_heartbeats_yet", Title: "No platform instance reports heartbeats yet",
		Meaning: "Fly runs the platform's machines, but no platform instance has ever written a heartbeat to this database. " +
			"The contract (README, \"Contracts with the platform\", 5. Heartbeats) asks every instance to upsert its row in " +
			"ops.instance_heartbeats about every 15 s, with the role granted SELECT, INSERT, UPDATE on that table and SELECT on " +
			"ops.kill_switch_state. Until the first heartbeat, the console raises this one finding instead of one silent-machine " +
			"alert per machine, and cannot show which instances applied a kill switch, their cache hit rates or their database. " +
			"After the first heartbeat ever, a running machine without one is its own alert again.",
		Causes: []string{
			"The platform's build does not implement the heartbeat contract yet.",
			"The platform writes its heartbeats to another database than the console's DATABASE_URL.",
			"The platform's role lacks SELECT, INSERT, UPDATE on ops.instance_heartbeats, so every upsert fails.",
		},
		actions: fixed(fleetScreen, Link{Label: "Open the kill switches (they list the reporting instances)", Href: "/switches"})},
	{Rule: "fleet.unknown-machine", Title: "Heartbeats from a machine Fly does not list",
		Meaning: "An instance writes heartbeats to this database from a machine this app does not have.",
		Causes: []string{
			"Another app or environment (staging, a laptop) configured with production's database.",
			"A machine destroyed moments ago (it stops by itself).",
		},
		actions: fixed(Link{Label: "Open the unknown heartbeats", Href: "/fleet#unknown-heartbeats"})},
	{Rule: "fleet.config", Title: "A machine's configuration cannot be read",
		Meaning: "Fly returned no configuration for the machine: its ENVIRONMENT cannot be checked.",
		Causes:  []string{"The machine's host is unreachable or being migrated by Fly.", "A Fly API incident."},
		actions: machineLinks},
	{Rule: "fleet.wedged", Title: "A machine is stuck in a transition",
		Meaning: "The machine has been starting, stopping or replacing for longer than Fly treats as normal.",
		Causes:  []string{"A host problem at Fly.", "A process that ignores the stop signal."},
		actions: machineLinks},

	{Rule: "system.unreachable", Title: "A system the console watches is unreachable",
		Meaning: "The console's checks of a system (platform database, PgBouncer, Redis, QStash, Fly) failed for 30 s; its screen shows the last value and its age.",
		Causes: []string{
			"The system is down or restarting (a Neon compute scaling, an Upstash incident).",
			"A rotated credential not redeployed to the console.",
			"Network trouble between the console and the system.",
		},
		actions: systemScreen},

	{Rule: "queues.approval_waiting", Title: "A purge or retry waits for a second operator",
		Meaning: "An operator confirmed a purge or bulk retry that the two-person rule covers; nothing runs until another operator approves it on its page, and it expires unapproved.",
		Causes: []string{
			"A large clean-up of the dead-letter queue after a bad deploy.",
			"A retry of many messages once their destination is fixed.",
		},
		actions: approvalLinks},

	{Rule: "console.watch_off", Title: "This console instance does not watch",
		Meaning: "WATCH=off: nothing is sampled in the background, so nothing is noticed while nobody looks (the April crash loop ran a day unnoticed).",
		Causes:  []string{"WATCH=off set for a test or a demo and deployed; set WATCH=always in production."},
		actions: fixed(Link{Label: "Open the Overview", Href: "/"})},
	{Rule: "console.demo_operators", Title: "Demo operator accounts exist",
		Meaning: "Demo accounts with known passwords are in a production or staging database.",
		Causes:  []string{"The demo seed ran against this database."},
		actions: fixed(Link{Label: "Remove them on the Operators screen", Href: "/operators"})},
}

// runbooks indexes runbookList by rule.
var runbooks = func() map[string]Runbook {
	m := make(map[string]Runbook, len(runbookList))
	for _, r := range runbookList {
		m[r.Rule] = r
	}
	return m
}()

// RunbookFor returns rule's runbook; ok is false for an unknown rule.
func RunbookFor(rule string) (r Runbook, ok bool) {
	r, ok = runbooks[rule]
	return r, ok
}

// Rules lists every rule with a runbook, sorted.
func Rules() []string {
	out := make([]string, 0, len(runbooks))
	for r := range runbooks {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// teamURLs are the team's own runbook URLs, by rule (ALERT_RUNBOOK_URLS).
var teamURLs struct {
	sync.RWMutex
	m map[string]string
}

// SetRunbookURLs sets the team's own runbook URL of each rule (validated
// by the configuration); nil clears them.
func SetRunbookURLs(urls map[string]string) {
	teamURLs.Lock()
	defer teamURLs.Unlock()
	teamURLs.m = urls
}

// TeamRunbookURL is the team's own runbook URL for rule, "" when none is
// configured.
func TeamRunbookURL(rule string) string {
	teamURLs.RLock()
	defer teamURLs.RUnlock()
	return teamURLs.m[rule]
}

// RunbookPath is where a notification sends the reader for rule: the
// team's runbook when configured, else the console's runbook page.
func RunbookPath(rule string) string {
	if u := TeamRunbookURL(rule); u != "" {
		return u
	}
	return "/alerts/runbooks/" + url.PathEscape(rule)
}
