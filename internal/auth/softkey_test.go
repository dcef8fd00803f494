package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// softKey is a software authenticator holding one P-256 credential, for
// driving passkey ceremonies without a browser: it answers creation and
// request options as a browser and a security key would together.
type softKey struct {
	t      *testing.T
	origin string
	id     []byte
	key    *ecdsa.PrivateKey
	count  uint32
	handle []byte
}

// newSoftKey makes a credential for origin.
func newSoftKey(t *testing.T, origin string) *softKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &softKey{t: t, origin: origin, id: id, key: key}
}

var b64 = base64.RawURLEncoding

// clientData is the JSON the browser signs over.
func (k *softKey) clientData(typ, challenge string) []byte {
	b, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	if err != nil {
		k.t.Fatal(err)
	}
	return b
}

// authData is the authenticator data: the RP ID hash, flags (user present
// and verified, plus attested) and the signature counter.
func (k *softKey) authData(rpID string, attested []byte) []byte {
	rp := sha256.Sum256([]byte(rpID))
	flags := byte(0x01 | 0x04)
	if attested != nil {
		flags |= 0x40
	}
	b := append(rp[:], flags)
	b = binary.BigEndian.AppendUint32(b, k.count)
	return append(b, attested...)
}

// create answers creation options with a new credential ("none"
// attestation), as navigator.credentials.create's JSON.
func (k *softKey) create(opts *protocol.CredentialCreation) []byte {
	k.t.Helper()
	o := opts.Response
	if uid, ok := o.User.ID.(protocol.URLEncodedBase64); ok {
		k.handle = uid
	}
	x, y := k.key.X.FillBytes(make([]byte, 32)), k.key.Y.FillBytes(make([]byte, 32))
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		k.t.Fatal(err)
	}
	attested := make([]byte, 16) // zero AAGUID
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(append(attested, k.id...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(o.RelyingParty.ID, attested)})
	if err != nil {
		k.t.Fatal(err)
	}
	return k.answer(map[string]any{
		"clientDataJSON":    b64.EncodeToString(k.clientData("webauthn.create", o.Challenge.String())),
		"attestationObject": b64.EncodeToString(att), "transports": []string{"internal"},
	})
}

// get answers request options with an assertion, advancing the counter
// by step (0 replays the last count, as a cloned key would).
func (k *softKey) get(opts *protocol.CredentialAssertion, step uint32) []byte {
	k.t.Helper()
	k.count += step
	o := opts.Response
	cd := k.clientData("webauthn.get", o.Challenge.String())
	ad := k.authData(o.RelyingPartyID, nil)
	sum := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte(nil), ad...), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	return k.answer(map[string]any{
		"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
		"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(k.handle),
	})
}

// answer wraps a response as a PublicKeyCredential's JSON.
func (k *softKey) answer(response map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"authenticatorAttachment": "platform", "response": response, "clientExtensionResults": map[string]any{},
	})
	if err != nil {
		k.t.Fatal(err)
	}
	return b
}

// tamper flips a bit of an answer's signature.
func tamper(t *testing.T, answer []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(answer, &m); err != nil {
		t.Fatal(err)
	}
	r := m["response"].(map[string]any)
	sig, _ := b64.DecodeString(r["signature"].(string))
	sig[len(sig)-1] ^= 1
	r["signature"] = b64.EncodeToString(sig)
	b, _ := json.Marshal(m)
	return b
}
