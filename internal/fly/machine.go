package fly

import (
	"encoding/json"
	"time"
)

// Metadata keys flyctl sets on every machine it deploys.
const (
	MetaProcessGroup   = "fly_process_group"
	MetaReleaseVersion = "fly_release_version"
)

// Machine is one Fly machine as the Machines API describes it. Config is
// nil when the host cannot be reached; IncompleteConfig may then hold part
// of it.
type Machine struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	State            string   `json:"state"`
	Region           string   `json:"region"`
	InstanceID       string   `json:"instance_id"`
	PrivateIP        string   `json:"private_ip"`
	Config           *Config  `json:"config,omitempty"`
	IncompleteConfig *Config  `json:"incomplete_config,omitempty"`
	ImageRef         ImageRef `json:"image_ref"`
	CreatedAt        string   `json:"created_at"`
	UpdatedAt        string   `json:"updated_at"`
	HostStatus       string   `json:"host_status,omitempty"`
	Events           []Event  `json:"events,omitempty"`
}

// Config is the part of a machine's configuration the console reads.
type Config struct {
	Image    string            `json:"image"`
	Env      map[string]string `json:"env"`
	Metadata map[string]string `json:"metadata"`
	Restart  *Restart          `json:"restart,omitempty"`
	Services []Service         `json:"services,omitempty"`
}

// Restart is a machine's restart policy.
type Restart struct {
	Policy     string `json:"policy"`
	MaxRetries int    `json:"max_retries"`
}

// Service is one service of a machine; only its concurrency matters here.
type Service struct {
	InternalPort int          `json:"internal_port"`
	Concurrency  *Concurrency `json:"concurrency,omitempty"`
}

// Concurrency is a service's per-machine request or connection limit.
type Concurrency struct {
	Type      string `json:"type"`
	SoftLimit int    `json:"soft_limit"`
	HardLimit int    `json:"hard_limit"`
}

// ImageRef is the image a machine runs; Digest names it exactly, where
// Config.Image may be a mutable tag.
type ImageRef struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
}

// Event is one entry of a machine's event log.
type Event struct {
	ID     string `json:"id,omitempty"`
	Type   string `json:"type"`
	Status string `json:"status"`
	Source string `json:"source"`
	// Timestamp is in milliseconds since the epoch.
	Timestamp int64 `json:"timestamp"`
	// Request varies with the event type; Exit reads what it needs and
	// tolerates any other shape.
	Request json.RawMessage `json:"request,omitempty"`

	exit *parsedExit
}

// ExitEvent is what Fly records when a machine's main process exits.
type ExitEvent struct {
	ExitCode      int    `json:"exit_code"`
	GuestExitCode int    `json:"guest_exit_code"`
	GuestSignal   int    `json:"guest_signal"`
	Signal        int    `json:"signal"`
	OOMKilled     bool   `json:"oom_killed"`
	RequestedStop bool   `json:"requested_stop"`
	Restarting    bool   `json:"restarting"`
	ExitedAt      string `json:"exited_at"`
}

// Failing reports whether the exit was a failure nobody asked for: not a
// requested stop, and a non-zero code, an OOM kill or a signal.
func (x ExitEvent) Failing() bool {
	return !x.RequestedStop && (x.ExitCode != 0 || x.OOMKilled || x.Signal != 0 || x.GuestSignal != 0)
}

// At is the event's time.
func (e Event) At() time.Time { return time.UnixMilli(e.Timestamp) }

// Exit returns the exit details of an "exit" event, read as flyctl does:
// request.MonitorEvent.exit_event first, then request.exit_event; ok is
// false for any other event or an unreadable request.
func (e Event) Exit() (x ExitEvent, restartCount int, ok bool) {
	if e.exit != nil {
		return e.exit.x, e.exit.restarts, e.exit.ok
	}
	return parseExit(e.Type, e.Request)
}

// UnmarshalJSON decodes an event and reads its exit details once, so a
// stored snapshot is not parsed again on every page view.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	if err := json.Unmarshal(b, (*plain)(e)); err != nil {
		return err
	}
	x, n, ok := parseExit(e.Type, e.Request)
	e.exit = &parsedExit{x: x, restarts: n, ok: ok}
	return nil
}

// parsedExit is an event's exit details, read at decoding.
type parsedExit struct {
	x        ExitEvent
	restarts int
	ok       bool
}

func parseExit(typ string, request json.RawMessage) (x ExitEvent, restartCount int, ok bool) {
	if typ != "exit" || len(request) == 0 {
		return x, 0, false
	}
	var r struct {
		ExitEvent    *ExitEvent `json:"exit_event"`
		MonitorEvent *struct {
			ExitEvent *ExitEvent `json:"exit_event"`
		} `json:"MonitorEvent"`
		RestartCount int `json:"restart_count"`
	}
	if json.Unmarshal(request, &r) != nil {
		return x, 0, false
	}
	switch {
	case r.MonitorEvent != nil && r.MonitorEvent.ExitEvent != nil:
		return *r.MonitorEvent.ExitEvent, r.RestartCount, true
	case r.ExitEvent != nil:
		return *r.ExitEvent, r.RestartCount, true
	}
	return x, 0, false
}

// config returns the machine's configuration, or the incomplete one Fly
// returns when the host is unreachable, or nil.
func (m Machine) config() *Config {
	if m.Config != nil {
		return m.Config
	}
	return m.IncompleteConfig
}

// Group is the machine's process group ("" when Fly does not say).
func (m Machine) Group() string {
	if c := m.config(); c != nil {
		if g := c.Metadata[MetaProcessGroup]; g != "" {
			return g
		}
		if g := c.Env["FLY_PROCESS_GROUP"]; g != "" {
			return g
		}
	}
	return ""
}

// Release is the fly_release_version the machine was deployed with.
func (m Machine) Release() string {
	if c := m.config(); c != nil {
		return c.Metadata[MetaReleaseVersion]
	}
	return ""
}

// Gone reports whether the machine no longer exists (or is being removed):
// it counts in no budget.
func (m Machine) Gone() bool {
	switch m.State {
	case "destroyed", "destroying", "replaced", "migrated":
		return true
	}
	return false
}

// Secret is an app secret's name and digest (times as Fly wrote them);
// the console never reads values.
type Secret struct {
	Name      string `json:"name"`
	Digest    string `json:"digest"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}
