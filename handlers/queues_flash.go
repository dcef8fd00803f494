package handlers

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/views"
)

// retryReasons are the fixed reasons a retry failed, by the key its
// redirect carries: the page never shows text taken from the URL.
var retryReasons = map[string]string{
	"rate":        "QStash is rate-limiting the console (HTTP 429); try again in a minute",
	"upstream":    "QStash answered with a server error",
	"refused":     "QStash refused the request",
	"unreachable": "QStash could not be reached or did not answer within the page's time",
	"other":       "QStash's answer could not be read",
	"time":        "the console ran out of time for this request before sending; retry again",
	"mixed":       "for more than one reason",
}

// queuesFlash is the flash a redirect to the list asks for with its fixed
// key (done=retry) and counts, or no flash when they do not add up.
func queuesFlash(q url.Values) (views.Flash, bool) {
	if q.Get("done") != "retry" {
		return views.Flash{}, false
	}
	count := func(k string) int {
		n, err := strconv.Atoi(q.Get(k))
		if err != nil || n < 0 || n > qstash.MaxPage {
			return -1
		}
		return n
	}
	retried, gone, failed := count("retried"), count("gone"), count("failed")
	why, known := retryReasons[q.Get("why")]
	if retried < 0 || gone < 0 || failed < 0 || retried+gone+failed == 0 || retried+gone+failed > qstash.MaxPage ||
		(failed > 0 && !known) {
		return views.Flash{}, false
	}
	msg := q.Get("msg")
	if retried != 1 || qstash.CheckID(msg) != nil {
		msg = ""
	}
	f := views.Flash{Kind: "ok", Text: retryFlashText(retried, gone, failed, why, msg)}
	if failed > 0 {
		f.Kind = "error"
	}
	return f, true
}

// retryFlashText says what became of a retry: retried (with the new
// message id when there is one), already gone, failed and why.
func retryFlashText(retried, gone, failed int, why, msg string) string {
	var parts []string
	switch {
	case retried == 1 && msg != "":
		parts = append(parts, "Retried: QStash accepted the dead letter again as message "+msg+".")
	case retried > 0:
		parts = append(parts, "Retried "+deadLetterCount(retried)+": QStash accepted each again as a new message (the new ids are in the audit log).")
	}
	if gone > 0 {
		verb := "was"
		if gone > 1 {
			verb = "were"
		}
		parts = append(parts, fmt.Sprintf("%s %s already gone (deleted, retried or expired), so not retried.", deadLetterCount(gone), verb))
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%s not retried: %s. The audit log has each error.", deadLetterCount(failed), why))
	}
	return strings.Join(parts, " ")
}

// deadLetterCount is "1 dead letter" or "N dead letters".
func deadLetterCount(n int) string {
	if n == 1 {
		return "1 dead letter"
	}
	return strconv.Itoa(n) + " dead letters"
}
