package publish

import (
	"time"

	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Defaults of the options below.
const (
	// DefaultSource is the source given to events that have none.
	DefaultSource = "urn:hookline:publish"
	// DefaultMaxEventBytes bounds one event's record: key, value and
	// headers together, as event.Decode counts them.
	DefaultMaxEventBytes = 256 << 10
	// DefaultSeedBroker is where the client looks for Kafka.
	DefaultSeedBroker = "127.0.0.1:9092"
	// CoalesceLinger is the Kafka client's linger under Coalesce when
	// Linger sets none.
	CoalesceLinger = time.Millisecond
)

// Validator checks an event's data against the JSON Schema of its type.
// *registry.Registry implements it: Validate returns nil, an error wrapping
// registry.ErrUnknownType, or a *registry.ValidationError.
type Validator interface {
	Validate(eventType string, version int, data []byte) error
}

// Opt configures a Client. Options are applied in order; a later option
// overrides an earlier one.
type Opt interface{ apply(*config) }

type opt func(*config)

func (o opt) apply(c *config) { o(c) }

type config struct {
	seeds         []string
	kopts         []kgo.Opt
	client        *kgo.Client
	clientShaping []string // options that shape a client New would build

	topic         string
	source        string
	validator     Validator
	validatorSet  bool
	allowUnknown  bool
	maxEventBytes int
	coalesce      bool
	linger        time.Duration // as set by Linger
	log           *zap.Logger
	now           func() time.Time
}

func defaultConfig() config {
	return config{
		seeds:         []string{DefaultSeedBroker},
		topic:         topic.DefaultSource,
		source:        DefaultSource,
		maxEventBytes: DefaultMaxEventBytes,
		log:           zap.NewNop(),
		now:           time.Now,
	}
}

// SeedBrokers sets the Kafka brokers to bootstrap from, overriding the
// default DefaultSeedBroker ("127.0.0.1:9092").
func SeedBrokers(brokers ...string) Opt {
	return opt(func(c *config) {
		c.seeds = brokers
		c.clientShaping = append(c.clientShaping, "SeedBrokers")
	})
}

// KafkaOpts adds franz-go options to the client New builds: TLS, SASL,
// hooks (metrics), a logger, compression. By default none are added. The
// options that make the producer idempotent with acks=all are applied
// after these and cannot be overridden; New fails if these disable
// idempotent writes.
func KafkaOpts(opts ...kgo.Opt) Opt {
	return shaping("KafkaOpts", opts...)
}

// KafkaClient makes the Client produce through cl, which it does not close, so
// one process can share one Kafka client. By default New builds its own.
// New fails unless cl is idempotent and requires acks from all in-sync
// replicas (franz-go's defaults), and when combined with options that
// shape a new client (SeedBrokers, KafkaOpts, Linger, BatchMaxBytes,
// MaxBufferedRecords, DeliveryTimeout).
func KafkaClient(cl *kgo.Client) Opt {
	return opt(func(c *config) { c.client = cl })
}

// Topic sets the topic events are produced to, overriding the default
// "events" (topic.DefaultSource). The ToTopic call option overrides it for
// one call.
func Topic(name string) Opt {
	return opt(func(c *config) { c.topic = name })
}

// Source sets the source of events that have none, overriding the default
// DefaultSource ("urn:hookline:publish").
func Source(source string) Opt {
	return opt(func(c *config) { c.source = source })
}

// Registry sets the validator of event data, overriding the default schema
// registry (registry.Default(): the JSON Schemas embedded in schemas/).
// A nil validator turns schema validation off; attributes are still
// checked.
func Registry(v Validator) Opt {
	return opt(func(c *config) { c.validator, c.validatorSet = v, true })
}

// AllowUnknownTypes lets events of types the registry does not know
// through unvalidated. By default they are refused with a
// *ValidationError wrapping registry.ErrUnknownType.
func AllowUnknownTypes() Opt {
	return opt(func(c *config) { c.allowUnknown = true })
}

// MaxEventBytes bounds the size of one event's record (key, value and
// headers), overriding the default DefaultMaxEventBytes (256 KiB). Larger
// events fail with ErrTooLarge before anything is produced. Keep it at or
// below the router's decode limit and the topic's max.message.bytes.
func MaxEventBytes(n int) Opt {
	return opt(func(c *config) { c.maxEventBytes = n })
}

// Linger sets how long a partition's batch waits for more records before
// it is sent, overriding franz-go's default of 10ms. Longer lingers make
// bigger batches at the cost of latency.
func Linger(d time.Duration) Opt {
	return opt(func(c *config) {
		shaping("Linger", kgo.ProducerLinger(d)).apply(c)
		c.linger = d
	})
}

// BatchMaxBytes bounds one record batch, overriding franz-go's default of
// 1,000,012 bytes (Kafka's default max.message.bytes).
func BatchMaxBytes(n int32) Opt {
	return shaping("BatchMaxBytes", kgo.ProducerBatchMaxBytes(n))
}

// MaxBufferedRecords bounds how many records may wait to be acknowledged;
// producing blocks (until the call's context ends) when it is reached.
// It overrides franz-go's default of 50,000.
func MaxBufferedRecords(n int) Opt {
	return shaping("MaxBufferedRecords", kgo.MaxBufferedRecords(n))
}

// DeliveryTimeout fails records not acknowledged within d with
// ErrBrokerUnavailable, overriding the default of no limit (a record waits
// as long as its call's context allows).
func DeliveryTimeout(d time.Duration) Opt {
	return shaping("DeliveryTimeout", kgo.RecordDeliveryTimeout(d))
}

// shaping is KafkaOpts under the name New's error messages use.
func shaping(name string, opts ...kgo.Opt) Opt {
	return opt(func(c *config) {
		c.kopts = append(c.kopts, opts...)
		c.clientShaping = append(c.clientShaping, name)
	})
}

// Coalesce makes concurrent calls share produce requests: records handed
// to the Client while a batch of them waits for Kafka's acknowledgement
// are produced together once it has it (one batch in flight), instead of
// each going out in a request of its own as soon as one of the Kafka
// client's five in-flight slots is free. After an acknowledgement the
// next batch waits up to 1 ms for as many records as the acknowledged
// batch and those queued meanwhile, so that callers waiting for their
// records, answered together, are produced together again; a call that
// finds nothing in flight after a batch of one record is produced at
// once, so sparse calls wait for nothing. Under load the broker handles
// far fewer requests. Every call still returns
// (or calls back) with its own records' acknowledgement. By default calls
// are not coalesced. The Client then owns a goroutine until Close.
//
// A batch leaves in one produce request because the Kafka client lingers
// and the coalescer ends the linger once the batch is enqueued: unless
// Linger sets one, Coalesce sets a linger of 1 ms, which is what other
// records produced through Kafka() wait. A client given with KafkaClient
// keeps its own linger; without one, a batch may leave in several
// requests.
func Coalesce() Opt {
	return opt(func(c *config) { c.coalesce = true })
}

// WithLogger sets the logger, overriding the default that discards.
func WithLogger(l *zap.Logger) Opt {
	return opt(func(c *config) {
		if l != nil {
			c.log = l
		}
	})
}

// WithClock sets the clock that stamps events without a time, overriding
// time.Now.
func WithClock(now func() time.Time) Opt {
	return opt(func(c *config) { c.now = now })
}

// CallOpt configures one Publish, PublishAsync or PublishBatch call.
type CallOpt interface{ applyCall(*call) }

type callOpt func(*call)

func (o callOpt) applyCall(c *call) { o(c) }

type call struct {
	key     []byte
	hasKey  bool
	topic   string
	headers []kgo.RecordHeader
}

// Key sets the record key, which picks the partition, overriding the
// default: the event's "partitionkey" extension, else its subject, else
// no key. In PublishBatch it applies to every event.
func Key(key []byte) CallOpt {
	return callOpt(func(c *call) { c.key, c.hasKey = key, true })
}

// Headers adds Kafka record headers to each event's record, after its
// CloudEvents headers; by default none are added. They count towards
// MaxEventBytes. Readers that decode events (event.Decode, the router)
// ignore headers that are not CloudEvents attributes; the HTTP API uses
// this for hookline-accepted-at.
func Headers(hs ...kgo.RecordHeader) CallOpt {
	return callOpt(func(c *call) { c.headers = append(c.headers, hs...) })
}

// ToTopic produces to name instead of the Client's Topic.
func ToTopic(name string) CallOpt {
	return callOpt(func(c *call) { c.topic = name })
}
