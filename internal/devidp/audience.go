package devidp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/crypto"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// rewriteAudience wraps the op handler: while an audience override is
// set, the ID token in a token response is signed again, with the same
// key, for that audience.
func (p *Provider) rewriteAudience(next http.Handler) http.Handler {
	tokenPath := p.op.TokenEndpoint().Relative()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		aud := p.audienceOverride()
		if aud == "" || r.URL.Path != tokenPath {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		body := rec.body.Bytes()
		if rec.status == http.StatusOK {
			var err error
			if body, err = p.reissue(body, aud); err != nil {
				slog.Error("devidp: audience override", "err", err)
				http.Error(w, "devidp: audience override failed", http.StatusInternalServerError)
				return
			}
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.status)
		_, _ = w.Write(body)
	})
}

// reissue returns the token response body with its ID token issued to aud.
func (p *Provider) reissue(body []byte, aud string) ([]byte, error) {
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	}
	var raw string
	if err := json.Unmarshal(resp["id_token"], &raw); err != nil {
		return nil, fmt.Errorf("id_token: %w", err)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("id_token is not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("id_token payload: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("id_token claims: %w", err)
	}
	claims["aud"] = []string{aud}
	claims["azp"] = aud
	if _, ok := claims["client_id"]; ok {
		claims["client_id"] = aud
	}
	signer, err := op.SignerFromKey(p.store.key)
	if err != nil {
		return nil, err
	}
	signed, err := crypto.Sign(claims, signer)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if resp["id_token"], err = json.Marshal(signed); err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// recorder keeps a response to change it before it is sent.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

// Header implements http.ResponseWriter.
func (r *recorder) Header() http.Header { return r.header }

// WriteHeader implements http.ResponseWriter.
func (r *recorder) WriteHeader(status int) { r.status = status }

// Write implements http.ResponseWriter.
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
