package devstack

import (
	"bufio"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// startRedis starts a Redis server without persistence.
func (s *Stack) startRedis(ctx context.Context) error {
	dataDir := filepath.Join(s.dir, "redis")
	if err := s.mkdir(dataDir); err != nil {
		return fmt.Errorf("devstack: redis: %w", err)
	}
	logPath := filepath.Join(s.dir, "redis.log")
	var err error
	s.redis, s.redisPort, err = s.startServer(ctx, "redis", logPath,
		func(port int) (procSpec, error) {
			return procSpec{
				name: "redis",
				path: s.bins.redis,
				args: []string{
					"--port", strconv.Itoa(port),
					"--bind", "127.0.0.1",
					"--save", "",
					"--appendonly", "no",
					"--dir", dataDir,
					"--daemonize", "no",
					"--protected-mode", "no",
				},
				dir:     dataDir,
				logPath: logPath,
				stopSig: syscall.SIGTERM,
			}, nil
		},
		checkRedis)
	return err
}

// checkRedis pings the server on port and checks that it is process p.
func checkRedis(ctx context.Context, p *process, port int) error {
	c := redis.NewClient(&redis.Options{
		Addr:            "127.0.0.1:" + strconv.Itoa(port),
		MaxRetries:      -1,
		PoolSize:        1,
		DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		return err
	}
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "process_id:"); ok {
			if v != strconv.Itoa(p.pid) {
				return fmt.Errorf("the server on this port is process %s, not %d", v, p.pid)
			}
			return nil
		}
	}
	return fmt.Errorf("INFO server did not report process_id")
}
