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
	// FromProxy reports whether a request came through the trusted proxy
	// in front (nil: none), whose X-Forwarded-Proto is then believed.
	FromProxy func(*http.Request) bool
}

// Secure reports whether the request reached the console over HTTPS.
func (k Cookies) Secure(r *http.Request) bool {
	return k.AlwaysSecure || r.TLS != nil || (k.FromProxy != nil && k.FromProxy(r) && r.Header.Get("X-Forwarded-Proto") == "https")
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

// challengeName is the cookie holding a sign-in's second-factor
// challenge for five minutes, on the sign-in path only.
func (k Cookies) challengeName(r *http.Request) string {
	if k.Secure(r) {
		return "__Secure-atum_2fa"
	}
	return "atum_2fa"
}

// SetChallenge stores the token of a sign-in waiting for its second factor.
func (k Cookies) SetChallenge(c echo.Context, token string) {
	k.setShort(c, k.challengeName(c.Request()), "/login", token)
}

// Challenge returns the sign-in challenge token the request carries, or "".
func (k Cookies) Challenge(c echo.Context) string {
	ck, err := c.Cookie(k.challengeName(c.Request()))
	if err != nil {
		return ""
	}
	return ck.Value
}

// ClearChallenge removes the sign-in challenge cookie.
func (k Cookies) ClearChallenge(c echo.Context) {
	k.clearShort(c, k.challengeName(c.Request()), "/login")
}

// setShort sets a five-minute HttpOnly cookie on path (SameSite=Lax, so
// that it comes back with the identity provider's redirect).
func (k Cookies) setShort(c echo.Context, name, path, value string) {
	r := c.Request()
	c.SetCookie(&http.Cookie{Name: name, Value: value, Path: path, MaxAge: 300,
		HttpOnly: true, Secure: k.Secure(r), SameSite: http.SameSiteLaxMode})
}

// clearShort removes a cookie set by setShort.
func (k Cookies) clearShort(c echo.Context, name, path string) {
	r := c.Request()
	c.SetCookie(&http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1,
		HttpOnly: true, Secure: k.Secure(r), SameSite: http.SameSiteLaxMode})
}
