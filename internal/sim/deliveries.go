package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DeliveriesOptions drives the simulated platform's QStash traffic.
type DeliveriesOptions struct {
	// QStashURL and Token reach QStash (the double in the demo).
	QStashURL string
	Token     string
	// Every is how often one message is enqueued.
	Every time.Duration
}

// Deliveries is the simulated platform's background messages: endpoints
// of its own (some healthy, some failing after a bad deploy) and a
// steady stream of enqueued messages, so the dead-letter queue fills.
type Deliveries struct {
	srv    *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// queues are the platform's queues and whether they are paused.
var simQueues = []struct {
	name   string
	paused bool
}{{"billing", false}, {"emails", false}, {"webhooks", false}, {"reports", true}}

// StartDeliveries starts the platform's endpoints on a free loopback port,
// creates the queues and enqueues a message every o.Every until Stop.
func StartDeliveries(ctx context.Context, o DeliveriesOptions) (*Deliveries, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/invoice", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `<html><body><script>alert("from a failing endpoint")</script>MapperConfigurationError: skill_versions</body></html>`)
	})
	mux.HandleFunc("/email", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte{0xff, 0xfe, 0x00, 0x41}) // not UTF-8
	})
	d := &Deliveries{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = d.srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	hc := &http.Client{Timeout: 5 * time.Second}
	call := func(ctx context.Context, method, path, body string, hdr map[string]string) error {
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(o.QStashURL, "/")+path, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+o.Token)
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
		}
		return nil
	}
	for _, q := range simQueues {
		body := fmt.Sprintf(`{"queueName":%q,"parallelism":1,"paused":%v}`, q.name, q.paused)
		if err := call(ctx, http.MethodPost, "/v2/queues", body, nil); err != nil {
			d.srv.Close()
			return nil, fmt.Errorf("sim: create queue %s: %w", q.name, err)
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	every := o.Every
	if every <= 0 {
		every = 2 * time.Second
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		targets := []struct{ queue, path, label string }{
			{"billing", "/invoice", "deploy-2026-04-09"}, {"emails", "/email", "welcome"}, {"webhooks", "/hook", "partner"},
			{"billing", "/ok", "nightly"}, {"reports", "/ok", "weekly"},
		}
		for n := 0; ; n++ {
			t := targets[rand.IntN(len(targets))]
			body := fmt.Sprintf(`{"tenant":"tenant-%d","seq":%d,"note":"<img src=x onerror=alert(%d)>"}`, 1+rand.IntN(1000), n, n)
			_ = call(rctx, http.MethodPost, "/v2/enqueue/"+t.queue+"/"+base+t.path, body,
				map[string]string{"Upstash-Retries": "1", "Upstash-Label": t.label, "Upstash-Forward-X-Tenant": "atum"})
			select {
			case <-rctx.Done():
				return
			case <-time.After(every):
			}
		}
	}()
	return d, nil
}

// Stop ends the stream and the endpoints.
func (d *Deliveries) Stop() {
	d.cancel()
	d.wg.Wait()
	_ = d.srv.Close()
}
