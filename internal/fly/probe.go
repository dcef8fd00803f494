// Package fly reads the Fly.io Machines API: the platform's machines,
// their state and configuration. It never changes anything.
package fly

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Probe returns a check that lists the app's machines and reports how
// many there are and how many are started.
func Probe(hc *http.Client, baseURL, app, token string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		u := strings.TrimRight(baseURL, "/") + "/v1/apps/" + url.PathEscape(app) + "/machines"
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", fmt.Errorf("fly: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return "", fmt.Errorf("fly: %w", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("fly: list machines: HTTP %d", resp.StatusCode)
		}
		var machines []struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(body, &machines); err != nil {
			return "", fmt.Errorf("fly: list machines: unexpected body")
		}
		started := 0
		for _, m := range machines {
			if m.State == "started" {
				started++
			}
		}
		return fmt.Sprintf("%d machines · %d started", len(machines), started), nil
	}
}
