package config

import (
	"strings"
	"testing"
)

func TestMetricsAddr(t *testing.T) {
	base := func(addr string) map[string]string {
		return map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB, "METRICS_ADDR": addr}
	}
	c, err := load(map[string]string{"ENVIRONMENT": "production", "DATABASE_URL": prodDB})
	if err != nil || c.MetricsAddr != "" {
		t.Fatalf("default: %q, %v; want off", c.MetricsAddr, err)
	}
	for _, ok := range []string{":9091", "127.0.0.1:9091", "[::1]:9091", " 0.0.0.0:9091 "} {
		if c, err := load(base(ok)); err != nil || c.MetricsAddr != strings.TrimSpace(ok) {
			t.Errorf("METRICS_ADDR=%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"9091", ":http", ":0", ":70000", "metrics.example.com:9091", ":8080"} {
		_, err := load(base(bad))
		if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
			t.Errorf("METRICS_ADDR=%q: %v; want an error naming it", bad, err)
		}
	}
}
