package serve

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// A request in flight when the context ends finishes; one that outlasts
// the grace is cut and the shutdown's error returned.
func TestUntil(t *testing.T) {
	for _, tt := range []struct {
		name    string
		work    time.Duration
		wantErr bool
	}{{"finishes within the grace", 100 * time.Millisecond, false}, {"outlasts the grace", 3 * time.Second, true}} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			started := make(chan struct{})
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				time.Sleep(tt.work)
			})}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- Until(ctx, srv, ln, 500*time.Millisecond) }()
			got := make(chan int, 1)
			go func() {
				resp, err := http.Get("http://" + ln.Addr().String())
				if err != nil {
					got <- 0
					return
				}
				resp.Body.Close()
				got <- resp.StatusCode
			}()
			<-started
			cancel()
			err = <-done
			if (err != nil) != tt.wantErr {
				t.Fatalf("Until: %v; want error %v", err, tt.wantErr)
			}
			if code := <-got; (code == http.StatusOK) == tt.wantErr {
				t.Fatalf("request in flight answered %d", code)
			}
		})
	}
}
