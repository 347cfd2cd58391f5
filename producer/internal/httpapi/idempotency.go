package httpapi

import (
	"container/list"
	"sync"
	"time"
)

// idemCache remembers the answers to requests sent with an
// Idempotency-Key, so a retry gets the first answer back without
// producing again. It is bounded (oldest evicted first) and entries
// expire. It is only an optimisation: event ids derive from the key, so a
// retry that misses the cache (another instance, a restart, an eviction)
// produces the same ids again and consumers deduplicate.
type idemCache struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	now     func() time.Time
	entries map[string]*idemEntry
	order   *list.List // of keys, oldest first
}

type idemEntry struct {
	request [32]byte // hash of the request, to refuse a reused key
	done    bool
	status  int
	body    []byte
	at      time.Time
	elem    *list.Element
}

// idemState says what to do with a request.
type idemState int

const (
	idemNew      idemState = iota // process it, then finish or abandon
	idemReplay                    // answer with the cached entry
	idemBusy                      // the same key is being processed
	idemMismatch                  // the key was used for another request
)

func newIdemCache(max int, ttl time.Duration, now func() time.Time) *idemCache {
	return &idemCache{max: max, ttl: ttl, now: now, entries: map[string]*idemEntry{}, order: list.New()}
}

// begin looks key up for a request whose hash is req and, when it is new,
// reserves it.
func (c *idemCache) begin(key string, req [32]byte) (idemState, idemEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if e, ok := c.entries[key]; ok {
		switch {
		case e.done && now.Sub(e.at) > c.ttl:
			c.remove(key, e)
		case e.request != req:
			return idemMismatch, *e
		case !e.done:
			return idemBusy, *e
		default:
			return idemReplay, *e
		}
	}
	e := &idemEntry{request: req, at: now}
	e.elem = c.order.PushBack(key)
	c.entries[key] = e
	for c.order.Len() > c.max {
		oldest := c.order.Front().Value.(string)
		c.remove(oldest, c.entries[oldest])
	}
	return idemNew, *e
}

// finish stores the answer to a reserved key.
func (c *idemCache) finish(key string, status int, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok && !e.done {
		e.done, e.status, e.body, e.at = true, status, body, c.now()
	}
}

// abandon drops a reserved key, so that a retry is processed afresh.
func (c *idemCache) abandon(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok && !e.done {
		c.remove(key, e)
	}
}

func (c *idemCache) remove(key string, e *idemEntry) {
	c.order.Remove(e.elem)
	delete(c.entries, key)
}
