package fly_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/fly"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/apps/atum/machines" || r.Header.Get("Authorization") != "Bearer fo1_tok" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`[{"id":"1","state":"started"},{"id":"2","state":"stopped"},{"id":"3","state":"started"}]`))
	}))
	defer srv.Close()
	if d, err := fly.Probe(srv.Client(), srv.URL, "atum", "fo1_tok")(context.Background()); err != nil || d != "3 machines · 2 started" {
		t.Fatalf("probe = %q, %v", d, err)
	}
	_, err := fly.Probe(srv.Client(), srv.URL, "atum", "fo1_wrong")(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "fo1_wrong") {
		t.Fatalf("bad token: %v", err)
	}
}
