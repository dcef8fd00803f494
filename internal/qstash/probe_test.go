package qstash_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/qstash"
)

func TestProbe(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/queues" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(status)
		w.Write([]byte(`[{"name":"a","lag":3},{"name":"b","lag":0}]`))
	}))
	defer srv.Close()
	probe := qstash.Probe(srv.Client(), srv.URL+"/", "tok")
	if d, err := probe(context.Background()); err != nil || d != "2 queues" {
		t.Fatalf("probe = %q, %v", d, err)
	}
	status = http.StatusTooManyRequests
	if _, err := probe(context.Background()); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("429: %v", err)
	}
	if _, err := qstash.Probe(srv.Client(), srv.URL, "wrong")(context.Background()); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("bad token: %v", err)
	}
}
