package qstash

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
)

// queueNamePattern is what a queue name may be: QStash's own rule.
var queueNamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// CheckQueueName refuses a queue name QStash would not have given.
func CheckQueueName(name string) error {
	if !queueNamePattern.MatchString(name) {
		return fmt.Errorf("qstash: %q is not a queue name", clipID(name))
	}
	return nil
}

// SetQueuePaused pauses or resumes the queue name (our own call: POST
// /v2/queues/{name}/pause or /resume). A paused queue keeps accepting
// messages and delivers none until it is resumed.
func (c *Client) SetQueuePaused(ctx context.Context, name string, paused bool) error {
	if err := CheckQueueName(name); err != nil {
		return err
	}
	action := "resume"
	if paused {
		action = "pause"
	}
	return c.do(ctx, http.MethodPost, "/v2/queues/"+name+"/"+action, nil, nil)
}

// Refresh samples region's queues now, whenever it was last sampled (after
// an operator changed a queue), and returns the new snapshot.
func (s *Sampler) Refresh(ctx context.Context, region string) (Snapshot, error) {
	c, ok := s.Clients[region]
	if !ok {
		return Snapshot{}, ErrUnknownRegion
	}
	snap, _, err := s.sampler(region, c).Tick(ctx, true)
	if err != nil {
		return Snapshot{}, fmt.Errorf("qstash: sample: %w", err)
	}
	return snap.result()
}

// clipID shortens untrusted text quoted in an error.
func clipID(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// SetQueueParallelism sets how many of the queue name's messages are
// delivered at once (our own call: POST /v2/queues). The upsert also sets
// the paused state, so the caller passes the queue's current one.
func (c *Client) SetQueueParallelism(ctx context.Context, name string, parallelism int, paused bool) error {
	if err := CheckQueueName(name); err != nil {
		return err
	}
	if parallelism < 1 || parallelism > MaxParallelism {
		return fmt.Errorf("qstash: parallelism must be 1 to %d", MaxParallelism)
	}
	body, err := json.Marshal(map[string]any{"queueName": name, "parallelism": parallelism, "paused": paused})
	if err != nil {
		return fmt.Errorf("qstash: %w", err)
	}
	_, err = c.send(ctx, http.MethodPost, "/v2/queues", nil, http.Header{"Content-Type": {"application/json"}}, body, nil)
	return err
}

// MaxParallelism is the most parallelism the console sets on a queue.
const MaxParallelism = 100
