package sso

import (
	"context"
	"errors"
	"net"

	"github.com/coreos/go-oidc/v3/oidc"
)

// probingKeySet passes signature checks to the provider's key set and
// notes, in a probe the caller put in the context, when the keys could not
// be fetched. go-oidc reports a failed fetch and a bad signature alike;
// the probe lets Finish call the first an outage rather than a refusal.
type probingKeySet struct{ inner oidc.KeySet }

type probeKey struct{}

// keyProbe records why the key set could not be fetched, if it could not.
type keyProbe struct{ fetchErr error }

func withKeyProbe(ctx context.Context) (context.Context, *keyProbe) {
	p := &keyProbe{}
	return context.WithValue(ctx, probeKey{}, p), p
}

// VerifySignature implements oidc.KeySet.
func (k *probingKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.inner.VerifySignature(ctx, jwt)
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			if p, ok := ctx.Value(probeKey{}).(*keyProbe); ok {
				p.fetchErr = err
			}
		}
	}
	return payload, err
}
