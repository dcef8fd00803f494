package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/config"
	"github.com/atum/ops-console/internal/store"
)

// userAdd creates an operator; the password is the first line of stdin.
func userAdd(ctx context.Context, cfg *config.Config, env Env, email, roleName string) error {
	role, err := auth.ParseRole(roleName)
	if err != nil {
		return err
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("user add: read the password from standard input (one line)")
	}
	password := strings.TrimRight(line, "\r\n")
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := store.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.CheckSchema(ctx, pool); err != nil {
		return err
	}
	acct, err := auth.NewStore(pool).CreateOperator(ctx, email, role, password, false)
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	err = audit.New(pool).Record(ctx, audit.Entry{Operator: "cli", Action: "operator.create",
		Target: "operator:" + acct.Email, Result: audit.Success, Details: map[string]any{"role": string(role), "via": "atum-console user add"}})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "added operator %s (%s), id %d\n", acct.Email, acct.Role, acct.ID)
	return nil
}
