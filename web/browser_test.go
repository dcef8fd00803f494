package web_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/testenv"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts headless Chromium; a missing browser fails the test.
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("headless browser tests need %s (apt-get install chromium): %v", chromiumPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.Headless,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	// Console errors, CSP violations included, are collected for assertions.
	var mu sync.Mutex
	var problems []string
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				problems = append(problems, "console error")
			}
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError {
				problems = append(problems, e.Entry.Text) // CSP violations land here
			}
		}
	})
	if err != nil {
		t.Fatalf("listen to the browser: %v", err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), problems...)
	}
}

// inertBrowser signs email in through the form in Chromium, landing on
// next once ready is visible, and returns the context and a check that
// the pages seen since hold no injected script or hostile image, opened no
// dialog and raised no error.
func inertBrowser(t *testing.T, h *harness, email, next, ready string) (context.Context, func()) {
	t.Helper()
	ctx, problems := browser(t)
	var dialogs atomic.Int32
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(h.ts.URL + "/login?next=" + url.QueryEscape(next)),
		chromedp.WaitVisible(`input[name="email"]`),
		chromedp.SendKeys(`input[name="email"]`, email),
		chromedp.SendKeys(`input[name="password"]`, password),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(ready),
	} {
		if _, err := chromedp.Run(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return ctx, func() {
		t.Helper()
		// Once the page has loaded, every image has loaded or failed, so
		// a hostile onerror handler has run; the quiet period after it lets
		// a dialog it opened reach the listener.
		testenv.Eventually(t, 20*time.Second, func() bool {
			state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState`))
			return err == nil && state == "complete"
		}, "the page never finished loading")
		time.Sleep(300 * time.Millisecond)
		injected, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main script, main img[src='x']").length`))
		if err != nil || injected != 0 || dialogs.Load() != 0 {
			t.Fatalf("injected elements %d, dialogs %d (%v)", injected, dialogs.Load(), err)
		}
		if p := problems(); len(p) > 0 {
			t.Fatalf("the page raised errors: %v", p)
		}
	}
}

// TestBrowserSignInSeesOverview signs in through the real form in headless
// Chromium and sees the Overview with its banner and tiles.
func TestBrowserSignInSeesOverview(t *testing.T) {
	h := newHarness(t)
	if _, err := h.store.CreateOperator(context.Background(), "ops@atum.io", auth.Operator, password, false); err != nil {
		t.Fatal(err)
	}
	ctx, problems := browser(t)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(h.ts.URL+"/")); err != nil {
		t.Fatal(err)
	}
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.Contains(url, "/login?next=") {
		t.Fatalf("unauthenticated visit landed on %q (%v)", url, err)
	}
	for _, step := range []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(`input[name="email"]`),
		chromedp.SendKeys(`input[name="email"]`, "ops@atum.io"),
		chromedp.SendKeys(`input[name="password"]`, password),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`[data-testid="tile-postgres"]`),
	} {
		if _, err := chromedp.Run(ctx, step); err != nil {
			t.Fatalf("sign-in step: %v", err)
		}
	}
	banner, err := chromedp.Run(ctx, chromedp.Text(`[data-testid="env-banner"]`))
	if err != nil || !strings.Contains(banner, "STAGING") {
		t.Fatalf("banner = %q (%v)", banner, err)
	}
	tile, err := chromedp.Run(ctx, chromedp.Text(`[data-testid="tile-qstash"]`))
	if err != nil || !strings.Contains(tile, "not configured") {
		t.Fatalf("QStash tile = %q (%v)", tile, err)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(`h1`))
	if err != nil || heading != "Overview" {
		t.Fatalf("heading = %q (%v)", heading, err)
	}
	if p := problems(); len(p) > 0 {
		t.Fatalf("the page raised errors: %v", p)
	}
	if ev := h.events("login"); len(ev) != 1 || ev[0].Operator != "ops@atum.io" {
		t.Fatalf("browser login not audited: %+v", ev)
	}

	// Sign out through the form.
	if _, err := chromedp.Run(ctx, chromedp.Submit(`form[action="/logout"] button`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.WaitVisible(`input[name="password"]`)); err != nil {
		t.Fatalf("no login form after sign-out: %v", err)
	}
}
