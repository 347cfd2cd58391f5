package httpapi

import (
	"context"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hookline/hookline/schemas/record"
)

// Answers keeps the answers to requests sent with an Idempotency-Key, by
// record.IdempotencyKey. *idemtable.Table shares them among replicas and
// restarts through Kafka; the default keeps them in this process only.
type Answers interface {
	// Get returns the unexpired answer stored under key.
	Get(key string) (record.Idempotency, bool)
	// Put stores an answer; an unexpired one already stored under its
	// key may be kept instead.
	Put(ctx context.Context, a record.Idempotency) error
}

// WithAnswers sets where answers to Idempotency-Key requests are kept;
// the default is this process's memory (Config.IdempotencyEntries,
// Config.IdempotencyTTL).
func WithAnswers(a Answers) Opt { return opt(func(s *Server) { s.answers = a }) }

// memAnswers keeps answers in memory, bounded (least recently used
// evicted first), for a TTL.
type memAnswers struct {
	ttl     time.Duration
	now     func() time.Time
	entries *lru.Cache[string, record.Idempotency]
}

var _ Answers = (*memAnswers)(nil)

func newMemAnswers(max int, ttl time.Duration, now func() time.Time) *memAnswers {
	entries, err := lru.New[string, record.Idempotency](max)
	if err != nil {
		panic(err) // max is positive (Config.defaults)
	}
	return &memAnswers{ttl: ttl, now: now, entries: entries}
}

func (m *memAnswers) Get(key string) (record.Idempotency, bool) {
	a, ok := m.entries.Get(key)
	if !ok {
		return record.Idempotency{}, false
	}
	if a.Expired(m.now(), m.ttl) {
		m.entries.Remove(key)
		return record.Idempotency{}, false
	}
	return a, true
}

// Put keeps a unless an unexpired answer is already kept under its key
// (the first answer wins).
func (m *memAnswers) Put(_ context.Context, a record.Idempotency) error {
	if old, ok := m.entries.Peek(a.Key); ok && !old.Expired(m.now(), m.ttl) {
		return nil
	}
	m.entries.Add(a.Key, a)
	return nil
}

// inflight holds the keys of the requests this replica is processing, so
// that a concurrent retry is told to wait instead of producing again.
type inflight struct {
	mu   sync.Mutex
	keys map[string][32]byte
}

// inflightState says what to do with a request whose key is not answered.
type inflightState int

const (
	inflightNew      inflightState = iota // process it, then end it
	inflightBusy                          // the same request is in progress
	inflightMismatch                      // another request with this key is in progress
)

func (f *inflight) begin(key string, req [32]byte) inflightState {
	f.mu.Lock()
	defer f.mu.Unlock()
	if held, ok := f.keys[key]; ok {
		if held != req {
			return inflightMismatch
		}
		return inflightBusy
	}
	if f.keys == nil {
		f.keys = map[string][32]byte{}
	}
	f.keys[key] = req
	return inflightNew
}

func (f *inflight) end(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, key)
}
