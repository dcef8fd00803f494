package fly_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/fly"
)

// BenchmarkAnalyze50 is the report of a 50-machine fleet with 20 events
// each, decoded as the sampler stores it: the work of one /fleet view.
//
//	go test -run XXX -bench Analyze50 ./internal/fly
func BenchmarkAnalyze50(b *testing.B) {
	var ms []fly.Machine
	for i := range 50 {
		var es []fly.Event
		for j := range 10 {
			es = append(es, exit(time.Duration(j)*time.Minute, 1, false, false), start(time.Duration(j)*time.Minute-time.Second))
		}
		doc, err := json.Marshal(machine(fmt.Sprintf("m%d", i), "api", "started", prodEnv(), es...))
		if err != nil {
			b.Fatal(err)
		}
		var m fly.Machine
		if err := json.Unmarshal(doc, &m); err != nil {
			b.Fatal(err)
		}
		ms = append(ms, m)
	}
	o := fly.Options{Now: now, ExpectedEnvironment: "production", Heartbeats: []fly.Heartbeat{}}
	if r := fly.Analyze(ms, nil, o); r.Groups[0].CrashLoops != 50 {
		b.Fatalf("crash loops %d, want 50", r.Groups[0].CrashLoops)
	}
	b.ReportAllocs()
	for b.Loop() {
		fly.Analyze(ms, nil, o)
	}
}
