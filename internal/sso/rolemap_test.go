package sso_test

import (
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/sso"
)

func TestParseRoleMap(t *testing.T) {
	m, err := sso.ParseRoleMap(" ops-admins=admin, oncall = operator,support=support,staff=viewer ")
	if err != nil {
		t.Fatal(err)
	}
	want := sso.RoleMap{"ops-admins": auth.Admin, "oncall": auth.Operator, "support": auth.Support, "staff": auth.Viewer}
	if len(m) != len(want) {
		t.Fatalf("got %v", m)
	}
	for g, r := range want {
		if m[g] != r {
			t.Errorf("%s → %q, want %q", g, m[g], r)
		}
	}
	if m, err := sso.ParseRoleMap("  "); err != nil || len(m) != 0 {
		t.Errorf("empty: %v, %v", m, err)
	}
	for in, wantErr := range map[string]string{
		"ops-admins":             "not group=role",
		"ops-admins=root":        "unknown role",
		"=admin":                 "no group",
		"a=admin,,b=viewer":      "empty",
		"a=admin,":               "empty",
		"a=admin,a=viewer":       "twice",
		"a=admin, a =admin":      "twice",
		"staff=Viewer":           "unknown role",
		"a=admin,b=viewer,c=sup": "unknown role",
	} {
		_, err := sso.ParseRoleMap(in)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseRoleMap(%q) = %v, want an error about %q", in, err, wantErr)
		}
	}
}

func TestRoleFor(t *testing.T) {
	m := sso.RoleMap{"ops-admins": auth.Admin, "oncall": auth.Operator, "support": auth.Support, "staff": auth.Viewer}
	for _, tc := range []struct {
		groups []string
		want   auth.Role
	}{
		{nil, ""},
		{[]string{"marketing"}, ""},
		{[]string{"staff"}, auth.Viewer},
		{[]string{"staff", "oncall", "support"}, auth.Operator},
		{[]string{"ops-admins", "staff"}, auth.Admin},
		{[]string{"staff", "ops-admins"}, auth.Admin},
		{[]string{"Ops-Admins"}, ""}, // case-sensitive
	} {
		if got := m.RoleFor(tc.groups); got != tc.want {
			t.Errorf("RoleFor(%v) = %q, want %q", tc.groups, got, tc.want)
		}
	}
}
