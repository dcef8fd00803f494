package sso

import (
	"fmt"
	"strings"

	"github.com/atum/ops-console/internal/auth"
)

// RoleMap maps group names (exact, case-sensitive) to console roles.
type RoleMap map[string]auth.Role

// ParseRoleMap parses comma-separated group=role pairs, such as
// "ops-admins=admin,oncall=operator,staff=viewer". Spaces around names
// are ignored. An empty string is an empty map. Malformed pairs, empty
// group names, unknown roles and a group named twice are errors.
func ParseRoleMap(s string) (RoleMap, error) {
	m := RoleMap{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for i, pair := range strings.Split(s, ",") {
		group, role, ok := strings.Cut(pair, "=")
		group, role = strings.TrimSpace(group), strings.TrimSpace(role)
		switch {
		case strings.TrimSpace(pair) == "":
			return nil, fmt.Errorf("sso: role map: pair %d is empty (stray comma?)", i+1)
		case !ok:
			return nil, fmt.Errorf("sso: role map: pair %d %q is not group=role", i+1, strings.TrimSpace(pair))
		case group == "":
			return nil, fmt.Errorf("sso: role map: pair %d %q has no group", i+1, strings.TrimSpace(pair))
		}
		r, err := auth.ParseRole(role)
		if err != nil {
			return nil, fmt.Errorf("sso: role map: group %q: %w", group, err)
		}
		if _, dup := m[group]; dup {
			return nil, fmt.Errorf("sso: role map: group %q is mapped twice", group)
		}
		m[group] = r
	}
	return m, nil
}

// RoleFor returns the highest role any of groups maps to, or "" when none
// maps to a role.
func (m RoleMap) RoleFor(groups []string) auth.Role {
	var best auth.Role
	for _, g := range groups {
		r, ok := m[g]
		if ok && (best == "" || r.AtLeast(best)) {
			best = r
		}
	}
	return best
}
