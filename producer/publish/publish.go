package publish

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/hookline/hookline/schemas/event"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Client publishes events to Kafka. It is safe for concurrent use.
type Client struct {
	cfg    config
	cl     *kgo.Client
	co     *coalescer // nil unless Coalesce
	owns   bool
	closed atomic.Bool
}

// New returns a Client. It validates the options and builds the Kafka
// client (unless one is given with KafkaClient) without contacting Kafka.
func New(opts ...Opt) (*Client, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	switch {
	case cfg.topic == "":
		return nil, errors.New("publish: the topic must not be empty")
	case cfg.source == "":
		return nil, errors.New("publish: the default source must not be empty")
	case cfg.maxEventBytes <= 0:
		return nil, errors.New("publish: MaxEventBytes must be positive")
	case cfg.now == nil:
		return nil, errors.New("publish: WithClock needs a clock")
	}
	if !cfg.validatorSet {
		v, err := defaultValidator()
		if err != nil {
			return nil, fmt.Errorf("publish: loading the schema registry: %w", err)
		}
		cfg.validator = v
	}
	c := &Client{cfg: cfg}
	if cfg.client != nil {
		if len(cfg.clientShaping) > 0 {
			return nil, fmt.Errorf("publish: %s cannot apply to a client given with KafkaClient", strings.Join(cfg.clientShaping, ", "))
		}
		if err := checkDurable(cfg.client); err != nil {
			return nil, err
		}
		c.cl = cfg.client
		c.startCoalescing()
		return c, nil
	}
	kopts := append([]kgo.Opt{kgo.SeedBrokers(cfg.seeds...)}, cfg.kopts...)
	if cfg.coalesce && cfg.linger == 0 {
		kopts = append(kopts, kgo.ProducerLinger(CoalesceLinger))
	}
	// Applied last so that no option given above can weaken them.
	kopts = append(kopts, kgo.RequiredAcks(kgo.AllISRAcks()))
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if err := checkDurable(cl); err != nil {
		cl.Close()
		return nil, err
	}
	c.cl, c.owns = cl, true
	c.startCoalescing()
	return c, nil
}

func (c *Client) startCoalescing() {
	if c.cfg.coalesce {
		c.co = newCoalescer(c.cl)
	}
}

// produce hands recs to Kafka, through the coalescer when there is one.
func (c *Client) produce(ctx context.Context, recs []*kgo.Record, done func(*kgo.Record, error)) {
	if c.co != nil {
		c.co.produce(ctx, recs, done)
		return
	}
	for _, r := range recs {
		c.cl.Produce(ctx, r, done)
	}
}

// checkDurable refuses clients that could lose or duplicate acknowledged
// records.
func checkDurable(cl *kgo.Client) error {
	if disabled, _ := cl.OptValue(kgo.DisableIdempotentWrite).(bool); disabled {
		return errors.New("publish: the Kafka client must be idempotent (DisableIdempotentWrite was given)")
	}
	if acks, _ := cl.OptValue(kgo.RequiredAcks).(kgo.Acks); acks != kgo.AllISRAcks() {
		return errors.New("publish: the Kafka client must require acks from all in-sync replicas")
	}
	return nil
}

// Kafka returns the underlying franz-go client, for producing records that
// are not events (a process can share one client).
func (c *Client) Kafka() *kgo.Client { return c.cl }

// Prepare fills in what ev lacks and validates it exactly as Publish
// would, without producing it: the id (NewID), source (the Source option),
// specversion ("1.0") and time (now). Extensions with empty values are
// removed: binary mode does not carry them. It returns a *ValidationError or an
// error wrapping ErrTooLarge.
func (c *Client) Prepare(ev *event.Event, opts ...CallOpt) error {
	_, err := c.prepare(ev, c.callOf(opts))
	return err
}

// Publish fills in and validates ev (see Prepare), produces it and waits
// until Kafka acknowledged it or ctx ends. ev is updated in place, so its
// ID is known afterwards. When ctx's deadline passes first the error
// wraps ErrBrokerUnavailable and context.DeadlineExceeded (a cancelled
// ctx gives context.Canceled), and the record may still be written
// later: publish it again under the same id to be sure.
func (c *Client) Publish(ctx context.Context, ev *event.Event, opts ...CallOpt) error {
	done := make(chan error, 1) // the promise may still fire after ctx ends
	c.PublishAsync(ctx, ev, func(_ *event.Event, err error) { done <- err }, opts...)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return Classify(ctx.Err())
	}
}

// PublishAsync is Publish without waiting: done is called exactly once with
// ev and the outcome, possibly before PublishAsync returns (validation
// errors) and otherwise from the Kafka client's goroutine, so it must not
// block. ev must not be modified until then. PublishAsync itself blocks
// only when MaxBufferedRecords records are waiting for acknowledgement.
func (c *Client) PublishAsync(ctx context.Context, ev *event.Event, done func(*event.Event, error), opts ...CallOpt) {
	if c.closed.Load() {
		done(ev, ErrClosed)
		return
	}
	rec, err := c.prepare(ev, c.callOf(opts))
	if err != nil {
		done(ev, err)
		return
	}
	c.produce(ctx, []*kgo.Record{rec}, func(_ *kgo.Record, err error) { done(ev, Classify(err)) })
}

// PublishBatch fills in and validates every event first and produces none
// unless all are valid; then it produces them all and waits until Kafka
// acknowledged every one or ctx ends. It returns nil or a *BatchError with
// one entry per event. Events of one partition key keep their order.
func (c *Client) PublishBatch(ctx context.Context, evs []*event.Event, opts ...CallOpt) error {
	if c.closed.Load() {
		return ErrClosed
	}
	call := c.callOf(opts)
	recs := make([]*kgo.Record, len(evs))
	errs := make([]error, len(evs))
	failed := false
	for i, ev := range evs {
		recs[i], errs[i] = c.prepare(ev, call)
		failed = failed || errs[i] != nil
	}
	if failed {
		return &BatchError{Errs: errs}
	}

	var (
		mu      sync.Mutex
		pending = len(recs)
		settled = make([]bool, len(recs))
		all     = make(chan struct{})
		index   = make(map[*kgo.Record]int, len(recs))
	)
	for i, rec := range recs {
		index[rec] = i
	}
	c.produce(ctx, recs, func(rec *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		i := index[rec]
		errs[i], settled[i] = Classify(err), true
		if pending--; pending == 0 {
			close(all)
		}
	})
	select {
	case <-all:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	out := make([]error, len(errs))
	failed = false
	for i := range errs {
		out[i] = errs[i]
		if !settled[i] {
			out[i] = Classify(ctx.Err())
		}
		failed = failed || out[i] != nil
	}
	if failed {
		return &BatchError{Errs: out}
	}
	return nil
}

// Flush waits until every record produced so far is acknowledged or ctx
// ends.
func (c *Client) Flush(ctx context.Context) error {
	if err := c.cl.Flush(ctx); err != nil {
		return Classify(err)
	}
	return nil
}

// Buffered returns how many records wait for Kafka's acknowledgement:
// those the Kafka client holds and, with Coalesce, those queued for the
// next shared produce request.
func (c *Client) Buffered() int64 {
	n := c.cl.BufferedProduceRecords()
	if c.co != nil {
		c.co.mu.Lock()
		n += int64(len(c.co.queue))
		c.co.mu.Unlock()
	}
	return n
}

// Ping reports whether a Kafka broker answers.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.cl.Ping(ctx); err != nil {
		return Classify(err)
	}
	return nil
}

// Close stops the Client. Records not yet acknowledged fail with ErrClosed;
// call Flush first to wait for them. A client given with KafkaClient
// is left open.
func (c *Client) Close() {
	if c.closed.Swap(true) {
		return
	}
	if c.co != nil {
		c.co.shut()
	}
	if c.owns {
		c.cl.Close() // fails what the coalescer has in flight
	}
	if c.co != nil {
		<-c.co.done
	}
}

func (c *Client) callOf(opts []CallOpt) call {
	k := call{topic: c.cfg.topic}
	for _, o := range opts {
		o.applyCall(&k)
	}
	return k
}

// prepare fills in ev, validates it and returns its record.
func (c *Client) prepare(ev *event.Event, k call) (*kgo.Record, error) {
	if ev.ID == "" {
		ev.ID = NewID()
	}
	if ev.Source == "" {
		ev.Source = c.cfg.source
	}
	if ev.SpecVersion == "" {
		ev.SpecVersion = event.SpecVersion
	}
	if ev.Time.IsZero() {
		ev.Time = c.cfg.now().UTC()
	}
	// event.BinaryHeaders leaves empty extensions out, so drop them here
	// and the event reads back as it is now.
	for name, v := range ev.Extensions {
		if v == "" {
			delete(ev.Extensions, name)
		}
	}
	if fields, cause := checkAttributes(ev); len(fields) > 0 {
		return nil, &ValidationError{Type: ev.Type, Fields: fields, Err: cause}
	}
	key := k.key
	if !k.hasKey {
		key = defaultKey(ev)
	}
	rec := event.BinaryRecord(k.topic, key, ev)
	rec.Headers = append(rec.Headers, k.headers...)
	if n := recordSize(rec); n > c.cfg.maxEventBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, c.cfg.maxEventBytes)
	}
	if err := c.validateData(ev); err != nil {
		return nil, err
	}
	return rec, nil
}

// defaultKey is the partition key of an event without an explicit Key.
func defaultKey(ev *event.Event) []byte {
	if k := ev.Extensions["partitionkey"]; k != "" {
		return []byte(k)
	}
	if ev.Subject != "" {
		return []byte(ev.Subject)
	}
	return nil
}

// recordSize counts a record as event.Decode does.
func recordSize(r *kgo.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// extensionName is the CloudEvents rule for attribute names. Binary mode
// carries names in headers that event.Decode lower-cases, so anything else
// would not read back as sent.
var extensionName = regexp.MustCompile(`^[a-z0-9]{1,64}$`)

// checkAttributes returns what event.Decode would refuse in ev's binary
// record, or what would not read back as sent, and the cause to wrap: the
// *event.DecodeError of ev.Validate, else event.ErrInvalidAttribute.
func checkAttributes(ev *event.Event) ([]FieldError, error) {
	var out []FieldError
	var cause error = event.ErrInvalidAttribute
	if err := ev.Validate(event.ModeBinary); err != nil {
		cause = err
		var de *event.DecodeError
		if errors.As(err, &de) && de.Field != "" {
			out = append(out, FieldError{Field: de.Field, Message: de.Err.Error()})
		} else {
			out = append(out, FieldError{Field: "event", Message: err.Error()})
		}
	}
	for _, f := range []struct{ name, v string }{
		{"id", ev.ID}, {"source", ev.Source}, {"type", ev.Type}, {"subject", ev.Subject},
		{"datacontenttype", ev.DataContentType}, {"dataschema", ev.DataSchema},
	} {
		if !utf8.ValidString(f.v) {
			out = append(out, FieldError{Field: f.name, Message: "must be UTF-8 text"})
		}
	}
	if y := ev.Time.UTC().Year(); y < 0 || y > 9999 {
		out = append(out, FieldError{Field: "time", Message: "year must be between 0 and 9999"})
	}
	for _, name := range sortedKeys(ev.Extensions) {
		switch {
		case !extensionName.MatchString(name):
			out = append(out, FieldError{Field: name, Message: "extension names are 1-64 lower-case letters and digits"})
		case !utf8.ValidString(ev.Extensions[name]):
			out = append(out, FieldError{Field: name, Message: "must be UTF-8 text"})
		}
	}
	if len(ev.Data) > 0 && ev.DataIsJSON() && !json.Valid(ev.Data) {
		out = append(out, FieldError{Field: "data", Message: "not valid JSON, as datacontenttype " + orJSON(ev.DataContentType) + " requires"})
	}
	return out, cause
}

func orJSON(ct string) string {
	if ct == "" {
		return "(absent, so JSON)"
	}
	return ct
}

// validateData checks ev's data against the registry.
func (c *Client) validateData(ev *event.Event) error {
	if c.cfg.validator == nil {
		return nil
	}
	version := versionOf(ev.DataSchema)
	err := c.cfg.validator.Validate(ev.Type, version, ev.Data)
	if err == nil {
		return nil
	}
	if isUnknownType(err) {
		if c.cfg.allowUnknown {
			return nil
		}
		return &ValidationError{Type: ev.Type, Version: version, Err: err,
			Fields: []FieldError{{Field: "type", Message: fmt.Sprintf("unknown event type %q: it is not registered (POST /v1/event-types, hookctl types add)", ev.Type)}}}
	}
	ve := &ValidationError{Type: ev.Type, Version: version, Err: err, Fields: schemaFields(err)}
	if len(ve.Fields) == 0 {
		ve.Fields = []FieldError{{Field: "data", Message: err.Error()}}
	}
	return ve
}

// NewID returns a random event id: a version 4 UUID.
func NewID() string { return uuid.NewString() }

// DerivedID returns an event id determined by parts: a version 8 UUID made
// from their SHA-256. The same parts always give the same id, across
// processes and restarts, so a retried publish can reuse the id of the
// first attempt (for example parts = an idempotency key and an index).
func DerivedID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		// Length-prefixed, so ("ab","c") and ("a","bc") differ.
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var b uuid.UUID // google/uuid has no version 8 constructor: set its bits here
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return b.String()
}
