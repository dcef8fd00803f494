package qstash

import (
	"testing"
	"time"
)

func TestCopiesKeepTheNewestWithinBounds(t *testing.T) {
	var cs copies[string]
	now, keep := time.Now(), time.Minute
	for i, k := range []string{"a", "b", "c"} {
		cs.put(k, k, now.Add(time.Duration(i)*time.Second), keep, 2, 0)
	}
	if _, _, ok := cs.get("a", keep); ok || len(cs.m) != 2 {
		t.Fatalf("the oldest copy is kept beyond max: %v", cs.m)
	}
	if v, at, ok := cs.get("c", keep); !ok || v != "c" || !at.Equal(now.Add(2*time.Second)) {
		t.Fatalf("newest copy = %q %v %v", v, at, ok)
	}

	var big copies[string]
	big.put("x", "x", now, keep, 10, maxCopiedBytes/2+1)
	big.put("y", "y", now.Add(time.Second), keep, 10, maxCopiedBytes/2+1)
	if _, _, ok := big.get("x", keep); ok || big.bytes != maxCopiedBytes/2+1 {
		t.Fatalf("bytes bound not kept: %d bytes, %v", big.bytes, big.m)
	}
	big.put("huge", "h", now, keep, 10, maxCopiedBytes+1)
	if _, _, ok := big.get("huge", keep); ok {
		t.Fatal("a copy larger than the bound was kept")
	}
	big.drop("y")
	if big.bytes != 0 || len(big.m) != 0 {
		t.Fatalf("after drop: %d bytes, %v", big.bytes, big.m)
	}

	var old copies[string]
	old.put("o", "o", now.Add(-2*keep), keep, 10, 0)
	if _, _, ok := old.get("o", keep); ok {
		t.Fatal("a copy older than keep is returned")
	}
	old.put("n", "n", now, keep, 10, 0)
	if len(old.m) != 1 {
		t.Fatalf("expired copies stay: %v", old.m)
	}
}
