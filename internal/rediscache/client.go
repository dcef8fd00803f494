// Package rediscache watches the platform's tenant cache: hit rates from
// the instances' heartbeats and the Redis server (Upstash in production)
// from at most one INFO per interval. The console sends Redis nothing else.
package rediscache

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// quiet drops go-redis's own log lines: the console reports Redis
// failures on its tiles and in its own structured log.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quiet{}) }

// NewClient returns a client for url that does not connect until used and
// keeps at most two connections (the console must stay cheap).
func NewClient(url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("rediscache: cannot parse REDIS_URL")
	}
	opt.PoolSize = 2
	opt.MinIdleConns = 0
	opt.DialTimeout = 3 * time.Second
	opt.ReadTimeout = 3 * time.Second
	opt.WriteTimeout = 3 * time.Second
	opt.MaxRetries = -1 // 0 means the default of 3 retries in go-redis
	// Callers' deadlines bound every command (a page gives Redis a few
	// hundred milliseconds, not ReadTimeout).
	opt.ContextTimeoutEnabled = true
	// No maintenance-notification handshake on connect (one more command).
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	// Little on connect: Upstash bills every command, so no CLIENT SETNAME
	// or SETINFO; go-redis always sends one HELLO per new connection, so
	// connections are kept for long.
	opt.ClientName = ""
	opt.DisableIdentity = true
	opt.ConnMaxIdleTime = time.Hour
	return redis.NewClient(opt), nil
}
