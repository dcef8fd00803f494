package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/atum/ops-console/internal/config"
	"github.com/atum/ops-console/internal/watch"
)

// check validates the configuration (already done by the caller), probes
// every configured system once with a short timeout and prints what it
// found. It fails when any configured system fails.
func check(ctx context.Context, cfg *config.Config, env Env) error {
	a, err := newApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer a.close()
	a.direct = true
	fmt.Fprintf(env.Stdout, "configuration ok: environment %s\n", cfg.Environment)
	failed := 0
	for _, c := range a.checks() {
		if c.Probe == nil {
			fmt.Fprintf(env.Stdout, "  -     %-18s not configured\n", c.Name)
			continue
		}
		st := a.monitor.ProbeOnce(ctx, c)
		if st.State == watch.OK {
			fmt.Fprintf(env.Stdout, "  ok    %-18s %s\n", c.Name, st.Detail)
		} else {
			failed++
			fmt.Fprintf(env.Stdout, "  FAIL  %-18s %s\n", c.Name, st.Err)
		}
	}
	if id := a.identity.Load(); id.Err == "" {
		fmt.Fprintf(env.Stdout, "console database: %s/%s as %s, PostgreSQL %s, system id %s\n",
			id.Host, id.Database, id.User, id.ServerVersion, id.SystemID)
	}
	if failed > 0 {
		return fmt.Errorf("check: %d system(s) failed", failed)
	}
	return nil
}
