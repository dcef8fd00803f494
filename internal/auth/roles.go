// Package auth holds operator accounts, password hashing, server-side
// sessions, login throttling and the role order the console checks on
// every route.
package auth

import "fmt"

// Role is an operator's role. Roles are ordered: each one can do what the
// roles before it can.
type Role string

// The roles, from least to most privileged.
const (
	Viewer   Role = "viewer"
	Support  Role = "support"
	Operator Role = "operator"
	Admin    Role = "admin"
)

// Roles lists every role in ascending order.
var Roles = []Role{Viewer, Support, Operator, Admin}

func (r Role) rank() int {
	for i, x := range Roles {
		if x == r {
			return i
		}
	}
	return -1
}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r.rank() >= 0 }

// AtLeast reports whether r grants everything min grants. An unknown role
// grants nothing.
func (r Role) AtLeast(min Role) bool {
	return r.Valid() && min.Valid() && r.rank() >= min.rank()
}

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("unknown role %q: want viewer, support, operator or admin", s)
	}
	return r, nil
}
