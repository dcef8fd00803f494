package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/atum/ops-console/internal/config"
	"github.com/atum/ops-console/internal/store"
)

// migrate applies the embedded migrations (Fly's release_command).
func migrate(ctx context.Context, cfg *config.Config, env Env) error {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	pool, err := store.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	applied, err := store.Migrate(ctx, pool)
	for _, v := range applied {
		fmt.Fprintf(env.Stdout, "applied migration %03d\n", v)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintf(env.Stdout, "schema ops is at version %d\n", store.Latest())
	return nil
}
