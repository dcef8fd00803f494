package cli

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/notify"
)

// The demo's receiver accepts a signed delivery, marks a second one with
// the same id as a duplicate, refuses a bad signature and lists them.
func TestDemoReceiver(t *testing.T) {
	r, err := startDemoReceiver()
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	post := func(id, secret string, at time.Time) int {
		body := []byte(`{"id":` + id + `,"kind":"firing","alert":{"rule":"fleet.crash-loop"}}`)
		ts := strconv.FormatInt(at.Unix(), 10)
		req, _ := http.NewRequest(http.MethodPost, r.url+"/hook", bytes.NewReader(body))
		req.Header.Set(notify.HeaderTimestamp, ts)
		req.Header.Set(notify.HeaderSignature, "v1="+notify.Sign(secret, ts, body))
		req.Header.Set(notify.HeaderDelivery, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("1", r.secret, time.Now()); code != 200 {
		t.Fatalf("genuine delivery: %d", code)
	}
	if code := post("1", r.secret, time.Now()); code != 200 {
		t.Fatalf("duplicate: %d", code)
	}
	if code := post("2", "not-the-secret", time.Now()); code != 401 {
		t.Fatalf("bad signature: %d", code)
	}
	if code := post("3", r.secret, time.Now().Add(-10*time.Minute)); code != 401 {
		t.Fatalf("replayed: %d", code)
	}
	resp, err := http.Get(r.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"received (4)", "delivery 1 · accepted", "delivery 1 · duplicate", "delivery 2 · refused: bad signature",
		"delivery 3 · refused: timestamp", "fleet.crash-loop"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
}
