package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/atum/ops-console/internal/auth"
)

// run runs browser steps, failing the test at the first that fails.
func run(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	for i, s := range steps {
		if _, err := chromedp.Run(ctx, s); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("step %d at %s: %v", i, loc, err)
		}
	}
}

// The whole OpenID Connect code flow in Chromium: the sign-in page's
// button, the provider's login page, back to the page asked for.
func TestBrowserSSOCodeFlow(t *testing.T) {
	s := newSSOHarness(t)
	if _, err := s.store.InviteOperator(context.Background(), "alice@atum.io", auth.Operator, "admin@atum.io"); err != nil {
		t.Fatal(err)
	}
	ctx, problems := browser(t)
	run(t, ctx,
		chromedp.Navigate(s.ts.URL+"/queues"),
		chromedp.WaitVisible(`[data-testid="sso-button"]`),
		chromedp.Click(`[data-testid="sso-button"]`),
		chromedp.WaitVisible(`#devidp-users`),
		chromedp.Click(`button[data-email="alice@atum.io"]`),
		chromedp.WaitVisible(`[data-testid="user-email"]`),
	)
	who, _ := chromedp.Run(ctx, chromedp.Text(`[data-testid="user-email"]`))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if who != "alice@atum.io" || !strings.HasSuffix(loc, "/queues") {
		t.Fatalf("after SSO: %q at %s", who, loc)
	}
	if p := problems(); len(p) > 0 {
		t.Fatalf("the pages raised errors: %v", p)
	}
}

// The step-up round trip in Chromium: a switch flipped from a session
// signed in too long ago asks for the password, then returns to the
// Switches page with its form filled as typed, and sending it flips the
// switch.
func TestBrowserStepUpKeepsTheFormsValues(t *testing.T) {
	h := newHarness(t)
	if _, err := h.store.CreateOperator(context.Background(), "ops@atum.io", auth.Operator, password, false); err != nil {
		t.Fatal(err)
	}
	ctx, check := inertBrowser(t, h, "ops@atum.io", "/switches", `[data-testid="toggle-form"]`)
	h.staleSessions(t)
	reason := `crash loop <img src=x onerror=alert(1)> hammers Redis`
	run(t, ctx,
		chromedp.SendKeys(`[data-testid="toggle-form"] textarea[name="reason"]`, reason),
		chromedp.SendKeys(`[data-testid="toggle-form"] input[name="confirm"]`, "SUSPEND_REDIS"),
		chromedp.Click(`[data-testid="toggle-submit"]`),
		chromedp.WaitVisible(`[data-testid="step-up-form"]`),
	)
	if label, _ := chromedp.Run(ctx, chromedp.Text(`[data-testid="step-up-label"]`)); label != "flip a switch" {
		t.Fatalf("step-up page names %q", label)
	}
	run(t, ctx,
		chromedp.SendKeys(`[data-testid="step-up-form"] input[name="password"]`, password),
		chromedp.Submit(`[data-testid="step-up-form"] input[name="password"]`),
		chromedp.WaitVisible(`[data-testid="kept-form"]`),
	)
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	kept, _ := chromedp.Run(ctx, chromedp.Text(`[data-testid="kept-form"]`))
	if !strings.Contains(loc, "/switches?") || !strings.Contains(kept, reason) || !strings.Contains(kept, "SUSPEND_REDIS") {
		t.Fatalf("back at %s, kept form %q", loc, kept)
	}
	// The page's own form is filled again too, as typed.
	refilled, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[
		document.querySelector('[data-testid="toggle-form"] textarea[name="reason"]').value,
		document.querySelector('[data-testid="toggle-form"] input[name="confirm"]').value]`))
	if err != nil || len(refilled) != 2 || refilled[0] != reason || refilled[1] != "SUSPEND_REDIS" {
		t.Fatalf("the switch form after the step-up holds %q (%v)", refilled, err)
	}
	run(t, ctx,
		chromedp.Click(`[data-testid="toggle-submit"]`),
		chromedp.WaitNotPresent(`[data-testid="kept-form"]`),
	)
	sw, _ := h.switches.Get(context.Background(), "SUSPEND_REDIS")
	if !sw.Enabled || sw.Reason != reason || sw.ChangedBy != "ops@atum.io" {
		t.Fatalf("after the kept form: %+v", sw)
	}
	check()
}
