package rediscache_test

import (
	"context"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/rediscache"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Redis: true}) }

// TestProbeSendsOneCommand reads the server's own command counters: one
// probe costs one PING; connecting costs one HELLO and no CLIENT SETNAME,
// SETINFO or SELECT.
func TestProbeSendsOneCommand(t *testing.T) {
	ctx := context.Background()
	url := testenv.Stack(t).RedisURL()
	admin, err := rediscache.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	c, err := rediscache.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		if d, err := rediscache.Probe(c)(ctx); err != nil || !strings.Contains(d, "PING answered") {
			t.Fatalf("probe = %q, %v", d, err)
		}
	}
	stats, err := admin.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stats, "cmdstat_ping:calls=3,") {
		t.Fatalf("want exactly 3 PINGs:\n%s", stats)
	}
	if strings.Contains(stats, "cmdstat_hello:calls=") && !strings.Contains(stats, "cmdstat_hello:calls=1,") {
		t.Fatalf("more than one HELLO for one connection:\n%s", stats)
	}
	for _, cmd := range []string{"cmdstat_client", "cmdstat_select"} {
		if strings.Contains(stats, cmd) {
			t.Fatalf("the client sent %s on connect:\n%s", cmd, stats)
		}
	}
}

func TestNewClientRejectsBadURL(t *testing.T) {
	if _, err := rediscache.NewClient("localhost:6379"); err == nil {
		t.Fatal("accepted a URL without scheme")
	}
}
