package platformagent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Main(m, devstack.Options{Postgres: true})
}

var (
	venvOnce sync.Once
	venv     *Venv
	venvErr  error
)

// newVenv installs the agent into a virtual environment, once for the
// test binary, in the local stack's temporary directory (removed with the
// stack); a missing Python or package fails the test loudly, naming what
// to install.
func newVenv(t testing.TB) *Venv {
	t.Helper()
	dir := filepath.Join(testenv.Stack(t).Dir(), "agent")
	venvOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		venv, venvErr = NewVenv(ctx, dir)
	})
	if venvErr != nil {
		t.Fatal(venvErr)
	}
	return venv
}

// TestPythonAgentSuite runs the agent's pytest suite (platform/python/tests)
// against a fresh database with the console's migrations applied.
func TestPythonAgentSuite(t *testing.T) {
	t.Parallel()
	v := newVenv(t)
	_, url := testenv.MigratedPool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.Python(), "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs",
		filepath.Join(v.Source, "tests"))
	cmd.Dir = t.TempDir() // so that the installed package is imported, not the source tree
	cmd.Env = append(os.Environ(), "ATUM_TEST_DATABASE_URL="+url, "ATUM_TEST_REQUIRE_DB=1", "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	summary := lines[len(lines)-1]
	if err != nil {
		t.Fatalf("pytest: %v\n%s", err, out)
	}
	if !strings.Contains(summary, " passed") || strings.Contains(summary, "skipped") {
		t.Fatalf("pytest ran no test or skipped some: %q\n%s", summary, out)
	}
	t.Logf("pytest: %s", summary)
}
