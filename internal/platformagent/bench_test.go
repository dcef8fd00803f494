package platformagent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/testenv"
)

// BenchmarkPythonAgent runs platform/python/bench.py against a migrated
// Postgres and prints its figures: the cost of one counter increment (a
// loop of one million) and of one heartbeat (time, statements). Run it
// with -benchtime 1x (`make bench` does); each iteration runs the script
// once.
func BenchmarkPythonAgent(b *testing.B) {
	v := newVenv(b)
	_, url := testenv.MigratedPool(b)
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, v.Python(), filepath.Join(v.Source, "bench.py"))
		cmd.Dir = b.TempDir()
		cmd.Env = append(os.Environ(), "ATUM_BENCH_DATABASE_URL="+url, "PYTHONDONTWRITEBYTECODE=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			b.Fatalf("bench.py: %v", err)
		}
	}
}
