package views

import "github.com/a-h/templ"

// Fleet is the Fly fleet page.
type Fleet struct {
	App string
	// NotConfigured explains why there is nothing to show (not configured,
	// or never listed successfully).
	NotConfigured string
	// Listed says when the fleet was last listed successfully; Err is the
	// last failure, worded for the top of the page.
	Listed string
	Err    string
	// Body, when set, is FleetBody rendered once for every viewer.
	Body templ.Component
	// Partial says which details the last listing could not read.
	Partial string
	// NoHeartbeatsYet is set while no platform instance has ever reported
	// a heartbeat: the page says so once (unless its open alert already
	// does), and no machine is flagged NO HEARTBEAT.
	NoHeartbeatsYet bool
	Alerts          []Alert
	Groups          []FleetGroup
	// GroupNames head the drift table's columns.
	GroupNames []string
	Drift      []FleetDrift
	Unknown    []FleetHeartbeat
	Secrets    []FleetSecret
	// SecretsListed says when the secret names were read.
	SecretsListed string
}

// FleetGroup is one process group and its machines.
type FleetGroup struct {
	Name       string
	Anchor     string
	Expected   bool
	Count      int
	Started    int
	CrashLoops int
	// Images are the short digests the group runs.
	Images   []string
	Machines []FleetMachine
}

// FleetMachine is one machine's row.
type FleetMachine struct {
	ID, Name, Href, State, Region string
	Digest, DigestShort, Release  string
	LastStart                     string
	Restarts10m, Restarts1h       int
	FailingExits                  int
	LastExit                      string
	OOM                           string
	Heartbeats                    string
	// Flags are CRASH LOOP, GAVE UP, NO CONFIG, NO HEARTBEAT (not until
	// the platform's first heartbeat ever).
	Flags []string
	// Bad marks a row with a critical finding.
	Bad bool
}

// FleetDrift is one compared setting: its values per group.
type FleetDrift struct {
	Key     string
	InGroup bool
	Across  bool
	Cells   []FleetDriftCell
}

// FleetDriftCell is a key's values within one group.
type FleetDriftCell struct {
	Values []FleetValue
	Drift  bool
}

// FleetValue is one value and the machines with it.
type FleetValue struct {
	Value    string
	Count    int
	Machines string
	// Missing marks "(unset)" and "(config unavailable)".
	Missing bool
}

// FleetHeartbeat is a live instance on a machine Fly does not list.
type FleetHeartbeat struct {
	Instance, Machine, Group, Environment, Reported string
}

// FleetSecret is an app secret's name; values are never read.
type FleetSecret struct {
	Name, Digest, Updated string
}

// FleetMachinePage is one machine: its row, configuration and events.
type FleetMachinePage struct {
	App     string
	Listed  string
	Machine FleetMachine
	Group   string
	Details []KV
	Env     []KV
	Events  []FleetEvent
	Alerts  []Alert
}

// FleetEvent is one machine event.
type FleetEvent struct {
	At, Type, Status, Source, Exit string
	Failing                        bool
}
