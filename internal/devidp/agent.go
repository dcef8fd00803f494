package devidp

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Agent is a scripted browser for tests: it keeps cookies, follows the
// provider's redirects and stops at the client's redirect URL, handing
// back the query the provider sent there, without a server behind it.
type Agent struct {
	client   *http.Client
	redirect string
}

// NewAgent returns an Agent that stops at redirectURL.
func NewAgent(redirectURL string) *Agent {
	jar, _ := cookiejar.New(nil) // never fails without options
	a := &Agent{redirect: stripQuery(redirectURL)}
	a.client = &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if stripQuery(req.URL.String()) == a.redirect {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return errors.New("devidp agent: too many redirects")
			}
			return nil
		},
	}
	return a
}

func stripQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// SignIn opens authURL and, when the login page shows, picks the user
// userID. It returns the query sent to the redirect URL and whether the
// login page showed. With userID "" the page must not show: the agent
// expects the provider to reuse its session.
func (a *Agent) SignIn(ctx context.Context, authURL, userID string) (callback url.Values, prompted bool, err error) {
	q, page, err := a.open(ctx, authURL)
	if err != nil || page == nil {
		return q, false, err
	}
	if userID == "" {
		return nil, true, errors.New("devidp agent: the login page showed, but no user was given")
	}
	q, err = a.submit(ctx, page, url.Values{"authRequestID": {page.requestID}, "user": {userID}})
	return q, true, err
}

// Cancel opens authURL and presses Cancel on the login page.
func (a *Agent) Cancel(ctx context.Context, authURL string) (url.Values, error) {
	_, page, err := a.open(ctx, authURL)
	if err != nil {
		return nil, err
	}
	if page == nil {
		return nil, errors.New("devidp agent: no login page to cancel")
	}
	return a.submit(ctx, page, url.Values{"authRequestID": {page.requestID}, "cancel": {"1"}})
}

// loginPage is the provider's login page as the agent saw it.
type loginPage struct {
	url       *url.URL
	requestID string
}

var requestIDField = regexp.MustCompile(`name="authRequestID" value="([^"]*)"`)

// open follows u to the redirect URL (returning its query) or to a login
// page.
func (a *Agent) open(ctx context.Context, u string) (url.Values, *loginPage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("devidp agent: %w", err)
	}
	return a.do(req)
}

func (a *Agent) submit(ctx context.Context, page *loginPage, form url.Values) (url.Values, error) {
	target := page.url.ResolveReference(&url.URL{Path: loginPath})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("devidp agent: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	q, next, err := a.do(req)
	if err == nil && next != nil {
		err = errors.New("devidp agent: the login page showed again after signing in")
	}
	return q, err
}

func (a *Agent) do(req *http.Request) (url.Values, *loginPage, error) {
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("devidp agent: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("devidp agent: %w", err)
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			return nil, nil, fmt.Errorf("devidp agent: redirect: %w", err)
		}
		return loc.Query(), nil, nil
	case resp.StatusCode == http.StatusOK:
		m := requestIDField.FindSubmatch(body)
		if m == nil {
			return nil, nil, fmt.Errorf("devidp agent: %s is not the login page", resp.Request.URL.Path)
		}
		return nil, &loginPage{url: resp.Request.URL, requestID: html.UnescapeString(string(m[1]))}, nil
	default:
		return nil, nil, fmt.Errorf("devidp agent: %s answered %s: %.200s", resp.Request.URL.Path, resp.Status, body)
	}
}
