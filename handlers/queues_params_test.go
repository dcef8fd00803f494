package handlers

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCheckCursor(t *testing.T) {
	for _, ok := range []string{"MTcwMDAwMDAwMDAwMC0x", "1700000000000-12", "abc_DEF-123=", "a+b/c", "x:y.z"} {
		if err := checkCursor(ok); err != nil {
			t.Errorf("checkCursor(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("a", maxCursor+1), "a b", "a&b", "a?b", `a"b`, "a<b", "a%2F", "a#b", "ü", "a\nb"} {
		if err := checkCursor(bad); err == nil {
			t.Errorf("checkCursor(%q) accepted", bad)
		}
	}
}

func TestQueuesFlash(t *testing.T) {
	for q, want := range map[string]string{
		"done=retry&retried=1&gone=0&failed=0&msg=msg_abc":  "ok:Retried: QStash accepted the dead letter again as message msg_abc.",
		"done=retry&retried=2&gone=1&failed=0&msg=msg_abc":  "ok:Retried 2 dead letters: QStash accepted each again as a new message (the new ids are in the audit log). 1 dead letter was already gone (deleted, retried or expired), so not retried.",
		"done=retry&retried=0&gone=3&failed=0":              "ok:3 dead letters were already gone (deleted, retried or expired), so not retried.",
		"done=retry&retried=0&gone=0&failed=2&why=upstream": "error:2 dead letters not retried: QStash answered with a server error. The audit log has each error.",
		"done=retry&retried=0&gone=0&failed=2&why=mixed":    "error:2 dead letters not retried: for more than one reason. The audit log has each error.",
		"done=retry&retried=1&gone=0&failed=0&msg=a/b":      "ok:Retried 1 dead letter: QStash accepted each again as a new message (the new ids are in the audit log).",
		"done=retry&retried=0&gone=0&failed=1&why=nope":     "",
		"done=retry&retried=x&gone=0&failed=0":              "",
		"done=retry&retried=60&gone=60&failed=0":            "",
		"done=role&retried=1":                               "",
		"":                                                  "",
	} {
		v, _ := url.ParseQuery(q)
		f, ok := queuesFlash(v)
		got := ""
		if ok {
			got = f.Kind + ":" + f.Text
		}
		if got != want {
			t.Errorf("%q: %q, want %q", q, got, want)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 30 * time.Second: 30} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestReveals(t *testing.T) {
	var r reveals
	now := time.Now()
	k := revealKey{operator: 1, region: "eu", id: "1-1"}
	if !r.claim(k, now) || r.claim(k, now.Add(time.Minute)) || r.claim(k, now.Add(revealWindow-time.Second)) {
		t.Fatal("a reveal within the window was claimed twice")
	}
	if !r.claim(revealKey{operator: 2, region: "eu", id: "1-1"}, now) || !r.claim(revealKey{operator: 1, region: "eu", id: "1-2"}, now) {
		t.Fatal("another operator's or message's reveal was not claimed")
	}
	if !r.claim(k, now.Add(revealWindow)) {
		t.Fatal("a reveal after the window was not claimed")
	}
	later := now.Add(2 * revealWindow)
	if !r.claim(k, later) {
		t.Fatal("claim after two windows")
	}
	r.release(k, later)
	if !r.claim(k, later.Add(time.Second)) {
		t.Fatal("a released claim was not given back")
	}
	if len(r.at) > 3 {
		t.Errorf("old claims are not pruned: %d", len(r.at))
	}
}
