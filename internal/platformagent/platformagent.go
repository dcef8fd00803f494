// Package platformagent prepares the platform's Python agent (platform/python,
// package atum_ops_agent: the platform's side of the contracts in README,
// "Contracts with the platform") for the tests and the benchmark: it checks
// Debian's Python and its packages, and installs the agent offline into a
// virtual environment. The tests in this package run the agent's own
// pytest suite against a real, migrated Postgres, and the agent processes
// against a real console end to end.
package platformagent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// SystemPython is Debian's interpreter: it sees the apt packages below,
// which the python3 of a pyenv on PATH does not.
const SystemPython = "/usr/bin/python3"

// Packages are the Debian packages the agent's venv, tests and benchmark
// need, each with a module that proves it is installed.
var Packages = []struct{ Name, Module string }{
	{"python3-psycopg", "psycopg"},
	{"python3-pytest", "pytest"},
	{"python3-setuptools", "setuptools"},
	{"python3-wheel", "wheel"},
	{"python3-venv", "ensurepip"},
}

// Missing returns the Debian packages that are not installed (python3
// itself included).
func Missing(ctx context.Context) []string {
	if _, err := os.Stat(SystemPython); err != nil {
		missing := []string{"python3"}
		for _, p := range Packages {
			missing = append(missing, p.Name)
		}
		return missing
	}
	var missing []string
	for _, p := range Packages {
		if exec.CommandContext(ctx, SystemPython, "-c", "import "+p.Module).Run() != nil {
			missing = append(missing, p.Name)
		}
	}
	return missing
}

// Check fails, naming the packages and how to install them, when Missing
// finds any.
func Check(ctx context.Context) error {
	if m := Missing(ctx); len(m) > 0 {
		return fmt.Errorf("platformagent: missing Debian packages for the Python agent: %s; run `make deps-python` "+
			"(or scripts/install-deps.sh --python), or: apt-get install -y --no-install-recommends %s",
			strings.Join(m, ", "), strings.Join(m, " "))
	}
	return nil
}

// SourceDir returns platform/python of this repository, found from the
// working directory upwards (go test runs in the package's directory).
func SourceDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			src := filepath.Join(dir, "platform", "python")
			if _, err := os.Stat(filepath.Join(src, "pyproject.toml")); err != nil {
				return "", fmt.Errorf("platformagent: no platform/python/pyproject.toml beside %s", filepath.Join(dir, "go.mod"))
			}
			return src, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("platformagent: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Venv is a virtual environment with the agent installed.
type Venv struct {
	// Dir is the environment's directory.
	Dir string
	// Source is the platform/python the agent was installed from.
	Source string
}

// Python is the environment's interpreter.
func (v *Venv) Python() string { return filepath.Join(v.Dir, "bin", "python") }

// NewVenv creates a virtual environment in dir (which must not exist or be
// empty) on Debian's Python with its site packages (psycopg, pytest), and
// installs the agent there from a copy of platform/python, offline (no
// index, no build isolation): the build writes nothing into the work tree.
func NewVenv(ctx context.Context, dir string) (*Venv, error) {
	if err := Check(ctx); err != nil {
		return nil, err
	}
	src, err := SourceDir()
	if err != nil {
		return nil, err
	}
	build := filepath.Join(dir, "src")
	if err := copyTree(src, build); err != nil {
		return nil, fmt.Errorf("platformagent: copy %s: %w", src, err)
	}
	v := &Venv{Dir: filepath.Join(dir, "venv"), Source: src}
	steps := [][]string{
		{SystemPython, "-m", "venv", "--system-site-packages", v.Dir},
		{filepath.Join(v.Dir, "bin", "pip"), "install", "--quiet", "--no-build-isolation", "--no-index", build},
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "PIP_DISABLE_PIP_VERSION_CHECK=1", "PYTHONDONTWRITEBYTECODE=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("platformagent: %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return v, nil
}

// copyTree copies the regular files below src to dst, leaving out
// caches and earlier builds.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch name := d.Name(); {
			case name == "__pycache__" || name == "build" || name == ".pytest_cache" || strings.HasSuffix(name, ".egg-info"):
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}
