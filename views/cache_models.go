package views

import "github.com/a-h/templ"

// HitRate is the tenant cache's hit rates over one window.
type HitRate struct {
	// Window names the window ("5 minutes", "1 hour", "1 day").
	Window string
	// Lookups is the number of tenant lookups in the window.
	Lookups int64
	// Overall, Memory, Redis and DB are percentages of Lookups: served
	// from memory or Redis (Overall), each layer, and misses to Postgres.
	Overall float64
	Memory  float64
	Redis   float64
	DB      float64
	// Empty says why there is no rate ("no lookups in this window").
	Empty string
}

// MachineCache is one platform instance's cache figures over 1 hour.
type MachineCache struct {
	Instance      string
	Machine       string
	Group         string
	Lookups       int64
	Overall       float64
	Memory        float64
	Redis         float64
	DB            float64
	RedisCommands int64
	// RedisPerMin is the instance's Redis commands per minute over the
	// last 5 minutes; Jump is set when it jumped.
	RedisPerMin float64
	Jump        string
	Suspended   bool
	Source      string
	LastSeen    string
	Stale       bool
}

// Rows says that a table lists the first of its rows, those that need
// attention first, and links to the page listing them all.
type Rows struct {
	Shown, Total int
	AllHref      string
}

// TenantMisses is one tenant among the top tenants by misses.
type TenantMisses struct {
	Tenant string
	Misses int64
}

// RedisServer is the Redis server's figures from INFO.
type RedisServer struct {
	// Sampled says how old the figures are; Paused why polling stopped.
	Sampled          string
	Paused           string
	Err              string
	OpsPerSec        int64
	KeyspaceHits     int64
	KeyspaceMisses   int64
	KeyspaceHitRate  string
	ConnectedClients int64
	UsedMemory       string
	CommandsTotal    int64
	// CommandsPerDay is the projection from the last hour; Budget is
	// REDIS_DAILY_COMMAND_BUDGET; BudgetGauge draws one against the other.
	CommandsPerDay int64
	Budget         int64
	BudgetGauge    Gauge
	Projection     string
	// CanProbe shows the "probe now" button (operators, while paused).
	CanProbe bool
}

// Cache is the Cache page.
type Cache struct {
	Alerts []Alert
	// MoreMachines is how many machines are not listed.
	MoreMachines Rows
	// Computed says when and from what the figures were computed.
	Computed string
	Rates    []HitRate
	// RatesTable, when set, is HitRates rendered once for every viewer.
	RatesTable templ.Component
	Machines   []MachineCache
	Tenants    []TenantMisses
	// Tables, when set, is CacheTables rendered once for every viewer,
	// in place of Machines, Tenants and Chart.
	Tables templ.Component
	Redis  RedisServer
	// RedisSection, when set, is RedisServerSection rendered once for
	// every viewer with the same figures.
	RedisSection templ.Component
	Chart        Chart
	// Switch is SUSPEND_REDIS, with its toggle form.
	Switch SwitchView
	Err    string
	// NoHeartbeatsYet says, once, that no platform instance has ever
	// reported a heartbeat.
	NoHeartbeatsYet bool
}

// SwitchView is one kill switch: state, propagation and toggle form.
type SwitchView struct {
	Name    string
	Enabled bool
	// State is "ON" or "OFF"; Reverts says when it reverts by itself.
	State     string
	Reason    string
	ChangedBy string
	ChangedAt string
	Reverts   string
	Version   int64
	// Propagation summarises the instances: "applied on 8 of 10".
	Propagation string
	Pending     []string
	Instances   []SwitchInstance
	// More is how many live instances are not listed, and AllHref the page
	// listing them all.
	More Rows
	// NoHeartbeatsYet is set while no platform instance has ever reported
	// a heartbeat: the page says so once, and the panel shows no
	// propagation or instances.
	NoHeartbeatsYet bool
	// CanToggle shows the toggle form (operators and admins).
	CanToggle bool
	// Form keeps the toggle form's input after an error.
	FormReason string
	FormRevert string
	FormError  string
	// RevertChoices are the offered automatic revert delays.
	RevertChoices []Choice
	History       []SwitchChange
	// Head, when set, is SwitchHead rendered once for every viewer.
	Head templ.Component
	// HistoryTable, when set, is SwitchHistory rendered once for every
	// viewer, in place of History.
	HistoryTable templ.Component
}

// Choice is one option of a select.
type Choice struct {
	Value string
	Label string
}

// SwitchInstance is one live platform instance's view of a switch.
type SwitchInstance struct {
	Instance  string
	Machine   string
	Group     string
	Applied   string // "ON" or "OFF"
	Source    string // env, database or cached
	Version   int64
	AppliedAt string
	LastSeen  string
	// Status is "applied", "pending" or "forced by env".
	Status string
}

// SwitchChange is one past change of a switch.
type SwitchChange struct {
	At        string
	State     string
	Reason    string
	ChangedBy string
	Reverts   string
	Version   int64
}

// Switches is the kill-switches page.
type Switches struct {
	Switches []SwitchView
	// NoHeartbeatsYet says, once, that no platform instance has ever
	// reported a heartbeat.
	NoHeartbeatsYet bool
}
