package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Cookies sets and reads the session cookie. The cookie is HttpOnly,
// SameSite=Lax, host-only and path /; it is Secure (with the __Host-
// prefix) whenever the console is reached over HTTPS.
type Cookies struct {
	// AlwaysSecure marks every cookie Secure (production behind Fly's TLS).
	AlwaysSecure bool
	// TrustProxyProto trusts X-Forwarded-Proto from the proxy in front.
	TrustProxyProto bool
}

// Secure reports whether the request reached the console over HTTPS.
func (k Cookies) Secure(r *http.Request) bool {
	return k.AlwaysSecure || r.TLS != nil || (k.TrustProxyProto && r.Header.Get("X-Forwarded-Proto") == "https")
}

func (k Cookies) name(r *http.Request) string {
	if k.Secure(r) {
		return "__Host-atum_session"
	}
	return "atum_session"
}

// Set stores the session token for maxAge.
func (k Cookies) Set(c echo.Context, token string, maxAge time.Duration) {
	r := c.Request()
	c.SetCookie(&http.Cookie{Name: k.name(r), Value: token, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: k.Secure(r), SameSite: http.SameSiteLaxMode})
}

// Clear removes the session cookie.
func (k Cookies) Clear(c echo.Context) {
	r := c.Request()
	c.SetCookie(&http.Cookie{Name: k.name(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: k.Secure(r), SameSite: http.SameSiteLaxMode})
}

// Token returns the session token the request carries, or "".
func (k Cookies) Token(c echo.Context) string {
	ck, err := c.Cookie(k.name(c.Request()))
	if err != nil {
		return ""
	}
	return ck.Value
}
