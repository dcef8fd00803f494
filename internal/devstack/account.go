package devstack

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// account is a system user the PostgreSQL servers are run as.
type account struct {
	name     string
	uid, gid int
	home     string
}

// serverAccount returns the account initdb, postgres and pgbouncer run as:
// nil (the current user) unless we are root, and the "postgres" system user
// when we are.
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("devstack: running as root, but initdb, postgres and pgbouncer refuse to run as root and there is no \"postgres\" user to run them as (%v); install postgresql-15, which creates it, or run as a normal user", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("devstack: user postgres: bad uid %q", u.Uid)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("devstack: user postgres: bad gid %q", u.Gid)
	}
	home := u.HomeDir
	if home == "" {
		home = "/"
	}
	return &account{name: u.Username, uid: uid, gid: gid, home: home}, nil
}

// chown gives path to the account; it does nothing for a nil account.
func (a *account) chown(path string) error {
	if a == nil {
		return nil
	}
	return os.Lchown(path, a.uid, a.gid)
}

// ErrDirUnreachable says the data directory cannot be reached by the
// account that runs postgres and pgbouncer (as root: the postgres user).
var ErrDirUnreachable = errors.New("data directory unreachable by the server account")

// checkReachable returns an error when the account cannot search every
// ancestor of dir, which would stop postgres from reaching its data.
func (a *account) checkReachable(dir string) error {
	if a == nil {
		return nil
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("devstack: %w", err)
		}
		if !searchable(fi, a) {
			return fmt.Errorf("devstack: %s is not reachable by user %s, which runs postgres and pgbouncer (directory %s is not searchable by it); use a directory under %s: %w",
				dir, a.name, d, os.TempDir(), ErrDirUnreachable)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
