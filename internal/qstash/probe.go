// Package qstash reaches Upstash QStash: queues and the dead-letter queue.
package qstash

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Probe returns a check that lists the queues (GET /v2/queues) with the
// bearer token and reports how many there are.
func Probe(hc *http.Client, baseURL, token string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/v2/queues", nil)
		if err != nil {
			return "", fmt.Errorf("qstash: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return "", fmt.Errorf("qstash: %w", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("qstash: GET /v2/queues: HTTP %d", resp.StatusCode)
		}
		var queues []json.RawMessage
		if err := json.Unmarshal(body, &queues); err != nil {
			return "", fmt.Errorf("qstash: GET /v2/queues: unexpected body")
		}
		return fmt.Sprintf("%d queues", len(queues)), nil
	}
}
