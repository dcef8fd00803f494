// Package cli is the console's command line: serve, migrate, demo,
// user add and check. main.go only calls Run.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/atum/ops-console/internal/config"
)

// Env is the process environment, passed in so tests can supply their own.
type Env struct {
	Getenv  func(string) string
	Environ []string
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	// Version is the build version shown in the footer.
	Version string
}

const usage = `usage: atum-console <command>

commands:
  serve               serve the console (PORT, default 8080)
  migrate             apply the embedded migrations of schema ops
  check               validate the configuration and reach every configured system
  user add EMAIL ROLE add an operator (role: viewer, support, operator, admin);
                      the password is read from standard input
  demo                start local Postgres, PgBouncer and Redis, seed a simulated
                      platform and serve on http://127.0.0.1:8080 (never in production)

configuration comes from the environment only; see README.md.
`

// Run runs the command in args (without the program name) and returns the
// process exit code: 0 on success, 1 on failure, 2 on a usage or
// configuration error.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = withConfig(env, func(cfg *config.Config) error { return serve(ctx, cfg, env, serveOptions{}) })
	case "migrate":
		err = withConfig(env, func(cfg *config.Config) error { return migrate(ctx, cfg, env) })
	case "check":
		err = withConfig(env, func(cfg *config.Config) error { return check(ctx, cfg, env) })
	case "user":
		if len(args) != 4 || args[1] != "add" {
			fmt.Fprint(env.Stderr, usage)
			return 2
		}
		err = withConfig(env, func(cfg *config.Config) error { return userAdd(ctx, cfg, env, args[2], args[3]) })
	case "demo":
		err = demo(ctx, env)
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return 0
	default:
		fmt.Fprintf(env.Stderr, "atum-console: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err == nil {
		return 0
	}
	var ce configError
	if errors.As(err, &ce) {
		for _, line := range strings.Split(ce.err.Error(), "\n") {
			fmt.Fprintln(env.Stderr, "atum-console: "+line)
		}
		return 2
	}
	fmt.Fprintln(env.Stderr, "atum-console: "+err.Error())
	return 1
}

type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }

func withConfig(env Env, run func(*config.Config) error) error {
	cfg, err := config.Load(env.Getenv, env.Environ)
	if err != nil {
		return configError{err}
	}
	return run(cfg)
}
