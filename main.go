// Command atum-console is the ATUM Ops Console: an internal web console
// for ATUM's support staff and operators. See README.md.
package main

import (
	"context"
	"os"

	"github.com/atum/ops-console/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], cli.Env{
		Getenv: os.Getenv, Environ: os.Environ(),
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Version: version,
	}))
}
