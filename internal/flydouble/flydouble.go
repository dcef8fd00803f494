// Package flydouble is a stand-in for the Fly.io Machines API, for tests
// and the demo: list, get and events of an app's machines, secret names,
// bearer tokens, the documented rate limits (429 with Retry-After),
// injected latency, machines whose host is unreachable (no config), and
// scripted crash loops. It records every call so tests can measure what
// the console sent.
package flydouble

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// Token is the only bearer token accepted; App the only app.
	Token, App string
	// Latency delays every answer.
	Latency time.Duration
	// ListEvents is how many recent events each machine carries in a list
	// answer (default 5); get and events return them all.
	ListEvents int
	// NoRateLimits turns the documented limits off.
	NoRateLimits bool
	// EchoAuthorization puts the request's Authorization header into
	// error messages, as a misbehaving proxy might: the console must
	// scrub it.
	EchoAuthorization bool
}

// Machine is one machine of the double.
type Machine struct {
	ID, Name, State, Region string
	// Group and Release become config.metadata fly_process_group and
	// fly_release_version.
	Group, Release string
	Image, Digest  string
	Env            map[string]string
	// Concurrency, when set, is the soft and hard limit of one service.
	Concurrency *[2]int
	// NoConfig is a machine whose host is unreachable: no config, only an
	// incomplete_config with its metadata.
	NoConfig bool
	Events   []Event
}

// Event is one machine event; Exit is set for exits. ID is given when
// the event is added, if empty, and never changes.
type Event struct {
	ID                   string
	Type, Status, Source string
	At                   time.Time
	Exit                 *Exit
}

// Exit describes an exit event.
type Exit struct {
	Code                    int
	OOM, Requested, Restart bool
	Signal, RestartCount    int
	// Monitor puts the details under request.MonitorEvent, as flyd also does.
	Monitor bool
}

// Call is one request the double answered.
type Call struct {
	At     time.Time
	Method string
	Path   string
	Query  string
	// Action is list, get, events, secrets or other.
	Action string
	Status int
}

// Server is the double.
type Server struct {
	o   Options
	mu  sync.Mutex
	ms  map[string]*Machine
	sec []string
	// force429 answers the next calls (of force429For, when set) with 429.
	force429    int
	force429For []string
	calls       []Call
	// events numbers the events added.
	events  int
	buckets map[string]*bucket
	srv     *http.Server
	ln      net.Listener
	stop    context.CancelFunc
	ctx     context.Context
}

// New returns a double with no machines.
func New(o Options) *Server {
	o.ListEvents = cmp.Or(o.ListEvents, 5)
	ctx, stop := context.WithCancel(context.Background())
	return &Server{o: o, ms: map[string]*Machine{}, buckets: map[string]*bucket{}, ctx: ctx, stop: stop}
}

// Start serves on addr ("127.0.0.1:0") and returns the base URL.
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln) //nolint:errcheck
	return "http://" + ln.Addr().String(), nil
}

// Close stops the server and every scripted crash loop.
func (s *Server) Close() {
	s.stop()
	if s.srv != nil {
		s.srv.Close()
	}
}

// Put adds or replaces a machine.
func (s *Server) Put(m Machine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := m
	c.Env = cloneEnv(m.Env)
	c.Events = s.numbered(m.Events)
	s.ms[m.ID] = &c
}

// SetState changes a machine's state.
func (s *Server) SetState(id, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.ms[id]; m != nil {
		m.State = state
	}
}

// SetEnv sets (or, with an empty value, removes) a machine's env key.
func (s *Server) SetEnv(id, key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.ms[id]; m != nil {
		if value == "" {
			delete(m.Env, key)
		} else {
			m.Env[key] = value
		}
	}
}

// AddEvents appends events to a machine's log.
func (s *Server) AddEvents(id string, es ...Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.ms[id]; m != nil {
		m.Events = append(m.Events, s.numbered(es)...)
	}
}

// CrashLoop scripts n failing exits of a machine, every apart and ending
// now, each followed by the restart policy's start, as flyd logs them.
func (s *Server) CrashLoop(id string, n int, every time.Duration, code int, oom bool) {
	now := time.Now()
	for i := n - 1; i >= 0; i-- {
		at := now.Add(-time.Duration(i) * every)
		s.AddEvents(id, crash(at, code, oom, n-i)...)
	}
}

// RunCrashLoop makes a machine crash every interval until ctx ends or the
// server closes, as a bad deploy does.
func (s *Server) RunCrashLoop(ctx context.Context, id string, every time.Duration, code int) {
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-s.ctx.Done():
				return
			case <-t.C:
				s.AddEvents(id, crash(time.Now(), code, false, n)...)
			}
		}
	}()
}

// numbered copies es, giving each event without an ID the next one.
// Caller holds s.mu.
func (s *Server) numbered(es []Event) []Event {
	out := slices.Clone(es)
	for i := range out {
		if out[i].ID == "" {
			s.events++
			out[i].ID = fmt.Sprintf("01EV%08d", s.events)
		}
	}
	return out
}

func crash(at time.Time, code int, oom bool, count int) []Event {
	return []Event{
		{Type: "exit", Status: "stopped", Source: "flyd", At: at,
			Exit: &Exit{Code: code, OOM: oom, Restart: true, RestartCount: count, Monitor: count%2 == 0}},
		{Type: "start", Status: "started", Source: "flyd", At: at.Add(time.Second)},
	}
}

// SetSecrets sets the app's secret names.
func (s *Server) SetSecrets(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sec = slices.Clone(names)
}

// Force429 answers the next n calls with 429; with actions (list, get,
// events, secrets), only calls of those.
func (s *Server) Force429(n int, actions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.force429, s.force429For = n, actions
}

// SetLatency changes the delay of every answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.Latency = d
}

// Calls returns every call answered so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Dangerous returns the calls that could change something or read secret
// values: any method but GET, and show_secrets.
func (s *Server) Dangerous() []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Method != http.MethodGet || strings.Contains(c.Query, "show_secrets") {
			out = append(out, c)
		}
	}
	return out
}

// ServeHTTP answers the Machines API subset.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	latency := s.o.Latency
	s.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	status, body, hdr := s.answer(r)
	if e, ok := body.(map[string]string); ok && s.o.EchoAuthorization {
		e["error"] += " (request had Authorization: " + r.Header.Get("Authorization") + ")"
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{At: time.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Action: actionOf(r.URL.Path), Status: status})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body) //nolint:errcheck
}

func errBody(msg string) map[string]string { return map[string]string{"error": msg} }

func (s *Server) answer(r *http.Request) (int, any, map[string]string) {
	if r.Header.Get("Authorization") != "Bearer "+s.o.Token {
		return http.StatusUnauthorized, errBody("unauthorized"), nil
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/apps/"), "/")
	if !strings.HasPrefix(r.URL.Path, "/v1/apps/") || len(parts) < 2 {
		return http.StatusNotFound, errBody("not found"), nil
	}
	if parts[0] != s.o.App {
		return http.StatusNotFound, errBody("app not found"), nil
	}
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, errBody("the double is read-only"), nil
	}
	action, id := actionOf(r.URL.Path), parts[0]
	if len(parts) >= 3 {
		id = parts[2]
	}
	if st, hdr := s.limit(action, id); st != 0 {
		return st, errBody("rate limit exceeded"), hdr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case action == "list":
		return http.StatusOK, s.list(r), nil
	case action == "secrets":
		out := []map[string]string{}
		for _, n := range s.sec {
			out = append(out, map[string]string{"name": n, "digest": fmt.Sprintf("%016x", len(n)*7919), "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"})
		}
		return http.StatusOK, map[string]any{"secrets": out}, nil
	case action == "get" || action == "events":
		m := s.ms[id]
		if m == nil {
			return http.StatusNotFound, errBody("machine not found"), nil
		}
		if action == "get" {
			return http.StatusOK, render(m, len(m.Events)), nil
		}
		return http.StatusOK, events(m, len(m.Events)), nil
	}
	return http.StatusNotFound, errBody("not found"), nil
}

// limit applies the documented limits: 1 request per second per action and
// identifier with bursts of 3; Get Machine 5 per second, bursts of 10.
func (s *Server) limit(action, id string) (int, map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	retry := map[string]string{"Retry-After": "1"}
	if s.force429 > 0 && (len(s.force429For) == 0 || slices.Contains(s.force429For, action)) {
		s.force429--
		return http.StatusTooManyRequests, retry
	}
	if s.o.NoRateLimits {
		return 0, nil
	}
	rate, burst := 1.0, 3.0
	if action == "get" {
		rate, burst = 5, 10
	}
	key := action + "/" + id
	b := s.buckets[key]
	now := time.Now()
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		s.buckets[key] = b
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return http.StatusTooManyRequests, retry
	}
	b.tokens--
	return 0, nil
}

type bucket struct {
	tokens float64
	last   time.Time
}

func actionOf(path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/v1/apps/"), "/")
	switch {
	case len(parts) == 2 && parts[1] == "machines":
		return "list"
	case len(parts) == 2 && parts[1] == "secrets":
		return "secrets"
	case len(parts) == 3 && parts[1] == "machines":
		return "get"
	case len(parts) == 4 && parts[1] == "machines" && parts[3] == "events":
		return "events"
	}
	return "other"
}

func (s *Server) list(r *http.Request) []any {
	q := r.URL.Query()
	ids := make([]string, 0, len(s.ms))
	for id := range s.ms {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := []any{}
	for _, id := range ids {
		m := s.ms[id]
		switch {
		case m.State == "destroyed" && q.Get("include_deleted") != "true":
		case q.Get("region") != "" && q.Get("region") != m.Region:
		case q.Get("metadata.fly_process_group") != "" && q.Get("metadata.fly_process_group") != m.Group:
		default:
			out = append(out, render(m, s.o.ListEvents))
		}
	}
	return out
}

// render is a machine as the Machines API returns it, with its newest n
// events.
func render(m *Machine, n int) map[string]any {
	meta := map[string]string{"fly_platform_version": "v2"}
	if m.Group != "" {
		meta["fly_process_group"] = m.Group
	}
	if m.Release != "" {
		meta["fly_release_version"] = m.Release
	}
	out := map[string]any{
		"id": m.ID, "name": m.Name, "state": m.State, "region": m.Region, "instance_id": "01J" + strings.ToUpper(m.ID),
		"private_ip": "fdaa:0:1::3", "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-26T10:00:00Z",
		"image_ref": map[string]any{"registry": "registry.fly.io", "repository": "atum", "tag": "deployment-" + m.Release, "digest": m.Digest},
		"events":    events(m, n),
	}
	if m.NoConfig {
		out["host_status"] = "unreachable"
		out["incomplete_config"] = map[string]any{"metadata": meta}
		return out
	}
	out["host_status"] = "ok"
	env := cloneEnv(m.Env)
	if m.Group != "" {
		env["FLY_PROCESS_GROUP"] = m.Group
	}
	cfg := map[string]any{"image": m.Image, "env": env, "metadata": meta,
		"restart": map[string]any{"policy": "on-failure", "max_retries": 10},
		"guest":   map[string]any{"cpu_kind": "shared", "cpus": 1, "memory_mb": 512}}
	if m.Concurrency != nil {
		cfg["services"] = []any{map[string]any{"internal_port": 8080, "protocol": "tcp",
			"concurrency": map[string]any{"type": "requests", "soft_limit": m.Concurrency[0], "hard_limit": m.Concurrency[1]}}}
	}
	out["config"] = cfg
	return out
}

// events renders a machine's newest n events, newest first.
func events(m *Machine, n int) []any {
	es := slices.Clone(m.Events)
	slices.SortStableFunc(es, func(a, b Event) int { return b.At.Compare(a.At) })
	if len(es) > n {
		es = es[:n]
	}
	out := []any{}
	for _, e := range es {
		ev := map[string]any{"id": e.ID, "type": e.Type, "status": e.Status,
			"source": e.Source, "timestamp": e.At.UnixMilli()}
		if x := e.Exit; x != nil {
			exit := map[string]any{"exit_code": x.Code, "guest_exit_code": x.Code, "oom_killed": x.OOM, "requested_stop": x.Requested,
				"restarting": x.Restart, "signal": x.Signal, "guest_signal": 0, "exited_at": e.At.UTC().Format(time.RFC3339Nano)}
			req := map[string]any{"restart_count": x.RestartCount}
			if x.Monitor {
				req["MonitorEvent"] = map[string]any{"exit_event": exit}
			} else {
				req["exit_event"] = exit
			}
			ev["request"] = req
		}
		out = append(out, ev)
	}
	return out
}

func cloneEnv(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// URL is the base URL Start returned.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }
