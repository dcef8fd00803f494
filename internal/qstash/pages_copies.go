package qstash

import "time"

// copies keeps the last good copy of values by key, each for a while and
// at most max of them; copies with a size also count towards
// maxCopiedBytes. The oldest go first. The caller holds the lock guarding
// it.
type copies[T any] struct {
	m     map[string]goodCopy[T]
	bytes int
}

// goodCopy is one value as it was read at a time.
type goodCopy[T any] struct {
	value T
	at    time.Time
	size  int
}

// put keeps v, read at at, as key's last good copy; size is what v costs
// in bytes (0: not counted).
func (cs *copies[T]) put(key string, v T, at time.Time, keep time.Duration, max, size int) {
	if cs.m == nil {
		cs.m = map[string]goodCopy[T]{}
	}
	cs.drop(key)
	cs.expire(at, keep)
	if size > maxCopiedBytes {
		return
	}
	for len(cs.m) > 0 && (len(cs.m) >= max || cs.bytes+size > maxCopiedBytes) {
		cs.dropOldest()
	}
	cs.m[key] = goodCopy[T]{value: v, at: at, size: size}
	cs.bytes += size
}

// get returns key's copy and when it was read, unless older than keep.
func (cs *copies[T]) get(key string, keep time.Duration) (T, time.Time, bool) {
	c, ok := cs.m[key]
	if !ok || time.Since(c.at) > keep {
		var zero T
		return zero, time.Time{}, false
	}
	return c.value, c.at, true
}

// drop forgets key's copy.
func (cs *copies[T]) drop(key string) {
	if c, ok := cs.m[key]; ok {
		cs.bytes -= c.size
		delete(cs.m, key)
	}
}

// expire forgets the copies older than keep at now.
func (cs *copies[T]) expire(now time.Time, keep time.Duration) {
	for k, c := range cs.m {
		if now.Sub(c.at) > keep {
			cs.drop(k)
		}
	}
}

// dropOldest forgets the oldest copy.
func (cs *copies[T]) dropOldest() {
	oldest, first := "", true
	var at time.Time
	for k, c := range cs.m {
		if first || c.at.Before(at) {
			oldest, at, first = k, c.at, false
		}
	}
	if !first {
		cs.drop(oldest)
	}
}
