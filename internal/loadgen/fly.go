package main

import (
	"context"
	"fmt"
	"time"

	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/flydouble"
)

// flyCost runs the console against the Fly API double (which enforces
// Fly's documented rate limits) with a 50-machine fleet, one of it
// crash-looping, and counts the calls the console makes while 1 and then
// 50 viewers load the Overview, /fleet and /connections; then it measures
// /fleet's latency for one client and for clients concurrent ones.
func flyCost(bin string, clients, requests int) error {
	ctx := context.Background()
	st, err := startStack(ctx, devstack.Options{Postgres: true})
	if err != nil {
		return err
	}
	defer st.Stop()
	fd := flydouble.New(flydouble.Options{Token: "fo1_load", App: "atum", Latency: 20 * time.Millisecond})
	flyURL, err := fd.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer fd.Close()
	env := map[string]string{"ENVIRONMENT": "production", "DB_POOL_SIZE": "15", "DATABASE_MAX_OVERFLOW": "5"}
	for i := range 50 {
		group := "api"
		if i%5 == 0 {
			group = "worker"
		}
		fd.Put(flydouble.Machine{ID: fmt.Sprintf("m%02d", i), Name: fmt.Sprintf("%s-%d", group, i), State: "started", Region: "fra",
			Group: group, Release: "7", Digest: "sha256:0123456789abcdef", Env: env})
	}
	fd.CrashLoop("m01", 5, time.Minute, 1, false)
	const interval = 5 * time.Second
	cmd, base, cookie, err := serveSignedIn(bin, map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": st.PostgresURL(),
		"CHECK_INTERVAL": "1s", "FLY_API_URL": flyURL, "FLY_API_TOKEN": "fo1_load", "ATUM_FLY_APP": "atum",
		"FLY_SAMPLE_INTERVAL": interval.String()})
	if err != nil {
		return err
	}
	defer stopServe(cmd)
	const span = 20 * time.Second
	for _, viewers := range []int{1, 50} {
		before := len(fd.Calls())
		browse(base, cookie, viewers, span, "/", "/fleet", "/connections")
		calls := fd.Calls()[before:]
		count, limited, perSecond := map[string]int{}, 0, map[int64]int{}
		for _, c := range calls {
			count[c.Action]++
			perSecond[c.At.Unix()]++
			if c.Status == 429 {
				limited++
			}
		}
		busiest := 0
		for _, n := range perSecond {
			busiest = max(busiest, n)
		}
		fmt.Printf("Fly API calls, %2d viewers, %s at a %s interval: %d lists, %d event logs, %d secret lists, %d answered 429; busiest second %d calls\n",
			viewers, span, interval, count["list"], count["events"], count["secrets"], limited, busiest)
	}
	for _, n := range []int{1, clients} {
		lat, errs := hammer(base+"/fleet", cookie, n, requests)
		if errs > 0 {
			return fmt.Errorf("fleet: %d failed requests", errs)
		}
		fmt.Printf("%-10s %d requests, %d clients, 50 machines: p50 %s  p99 %s  max %s\n", "fleet", len(lat), n,
			pct(lat, 50), pct(lat, 99), lat[len(lat)-1].Round(time.Microsecond))
	}
	return nil
}
