package cli

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/atum/ops-console/internal/notify"
)

// demoReceiver is the demo's stand-in for a team's webhook endpoint: it
// verifies each delivery's signature as a real receiver should and keeps
// the last ones, listed on its own page.
type demoReceiver struct {
	secret string
	srv    *http.Server
	url    string

	mu   sync.Mutex
	got  []demoDelivery
	seen map[string]bool
}

// demoDelivery is one request the receiver accepted or refused.
type demoDelivery struct {
	At       time.Time
	Delivery string
	Verdict  string
	Body     string
}

// startDemoReceiver listens on a free loopback port.
func startDemoReceiver() (*demoReceiver, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &demoReceiver{secret: hex.EncodeToString(b), url: "http://" + ln.Addr().String(), seen: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", r.hook)
	mux.HandleFunc("GET /{$}", r.list)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *demoReceiver) close() { _ = r.srv.Close() }

// hook verifies a delivery (signature, a timestamp within 5 minutes, and
// a delivery id not seen before) and keeps it.
func (r *demoReceiver) hook(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	id := req.Header.Get(notify.HeaderDelivery)
	d := demoDelivery{At: time.Now(), Delivery: id, Verdict: "accepted"}
	code := http.StatusOK
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := notify.Verify(r.secret, req.Header, body, time.Now(), 5*time.Minute); err != nil {
		d.Verdict, code = "refused: "+err.Error(), http.StatusUnauthorized
	} else if r.seen[id] {
		d.Verdict = "duplicate (already received)"
	} else {
		r.seen[id] = true
	}
	var pretty json.RawMessage
	if json.Unmarshal(body, &pretty) == nil {
		if out, err := json.MarshalIndent(pretty, "", "  "); err == nil {
			body = out
		}
	}
	d.Body = string(body)
	r.got = append(r.got, d)
	if len(r.got) > 100 {
		r.got = r.got[len(r.got)-100:]
	}
	w.WriteHeader(code)
}

var demoReceiverPage = template.Must(template.New("r").Parse(`<!doctype html>
<title>Demo webhook receiver</title>
<h1>Alert notifications received ({{len .}})</h1>
<p>Newest first. Each was checked like a real receiver does: HMAC-SHA256 signature, timestamp within 5 minutes, delivery id not seen before.</p>
{{range .}}<h2>{{.At.Format "15:04:05"}} · delivery {{.Delivery}} · {{.Verdict}}</h2><pre>{{.Body}}</pre>{{else}}<p>Nothing yet: alerts are notified when they fire.</p>{{end}}
`))

func (r *demoReceiver) list(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	out := make([]demoDelivery, 0, len(r.got))
	for i := len(r.got) - 1; i >= 0; i-- {
		out = append(out, r.got[i])
	}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := demoReceiverPage.Execute(w, out); err != nil {
		fmt.Fprintln(w, err)
	}
}
