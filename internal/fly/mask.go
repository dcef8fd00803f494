package fly

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/atum/ops-console/internal/secret"
)

// maskKey keys the fingerprints of hidden values. It is drawn once per
// process: a fingerprint tells values apart within one console instance,
// and cannot be used to check a guessed password offline.
var maskKey = func() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}()

// MaskEnv returns a config.env value fit for a page. Every secret in it —
// the whole value when the name or the value marks a secret, else each URL
// password, secret-named parameter and token-looking word — becomes
// "[hidden #" + a fingerprint of the hidden text + "]", so that machines
// whose secrets differ still differ in the drift table, and equal secrets
// compare equal, without either being shown.
func MaskEnv(name, value string) string {
	key := name + "\x00" + value
	masks.mu.Lock()
	masked, ok := masks.m[key]
	masks.mu.Unlock()
	if ok {
		return masked
	}
	masked = secret.Mask(name, value, func(s string) string {
		m := hmac.New(sha256.New, maskKey)
		m.Write([]byte(s))
		return "[hidden #" + hex.EncodeToString(m.Sum(nil)[:4]) + "]"
	})
	masks.mu.Lock()
	defer masks.mu.Unlock()
	if len(masks.m) >= maxMasks {
		clear(masks.m)
	}
	masks.m[key] = masked
	return masked
}

// masks remembers masked values: a fleet's settings repeat across its
// machines and every view of /fleet analyses the listing again.
var masks = struct {
	mu sync.Mutex
	m  map[string]string
}{m: map[string]string{}}

// maxMasks bounds the remembered masked values.
const maxMasks = 4096
