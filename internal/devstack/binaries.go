package devstack

import (
	"os"
	"os/exec"
	"path/filepath"
)

// postgresBinDir is where Debian's postgresql-15 package installs the server
// binaries, which are not on PATH.
const postgresBinDir = "/usr/lib/postgresql/15/bin"

// Debian package names, as reported by Missing.
const (
	pkgPostgres  = "postgresql-15"
	pkgPgBouncer = "pgbouncer"
	pkgRedis     = "redis-server"
)

// binaries holds the resolved paths of the server binaries.
type binaries struct {
	initdb, postgres, pgbouncer, redis string
}

// findBinary returns the path of name, looking first in the directories in
// before, then on PATH, then in the directories in after. It returns "" when
// the binary is not found.
func findBinary(name string, before, after []string) string {
	for _, d := range before {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	for _, d := range after {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p
		}
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// lookupBinaries resolves the binaries needed for opts. The returned slice
// lists the Debian packages that provide the binaries that were not found.
func lookupBinaries(opts Options) (binaries, []string) {
	var b binaries
	var missing []string
	if opts.Postgres {
		b.initdb = findBinary("initdb", []string{postgresBinDir}, nil)
		b.postgres = findBinary("postgres", []string{postgresBinDir}, nil)
		if b.initdb == "" || b.postgres == "" {
			missing = append(missing, pkgPostgres)
		}
	}
	if opts.PgBouncer {
		if b.pgbouncer = findBinary("pgbouncer", nil, []string{"/usr/sbin"}); b.pgbouncer == "" {
			missing = append(missing, pkgPgBouncer)
		}
	}
	if opts.Redis {
		if b.redis = findBinary("redis-server", nil, []string{"/usr/bin"}); b.redis == "" {
			missing = append(missing, pkgRedis)
		}
	}
	return b, missing
}

// Missing returns the Debian packages that have to be installed before the
// services requested in opts can be started: "postgresql-15" when initdb or
// postgres is missing, "pgbouncer" and "redis-server". It returns nil when
// nothing is missing.
//
// PostgreSQL binaries are looked up in /usr/lib/postgresql/15/bin, then on
// PATH; pgbouncer and redis-server on PATH, then in /usr/sbin and /usr/bin
// respectively.
func Missing(opts Options) []string {
	_, missing := lookupBinaries(opts)
	return missing
}
