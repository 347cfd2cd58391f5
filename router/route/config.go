package route

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"slices"
	"time"

	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults applied to a zero Config field.
const (
	DefaultGroup          = "hookline-router"
	DefaultMaxEventBytes  = 1 << 20
	DefaultMaxRecordBytes = 1_000_012 // Kafka's (and franz-go's) default batch limit
	DefaultMaxPollRecords = 1000
	// DefaultBatchWait is the least time between the starts of two
	// transactions; see Config.BatchWait.
	DefaultBatchWait = 5 * time.Millisecond
	// DefaultBusyBatchWait and DefaultBusyRate: see Config.BusyBatchWait.
	DefaultBusyBatchWait = 40 * time.Millisecond
	DefaultBusyRate      = 1000
	DefaultDrainTimeout  = 10 * time.Second
	// DefaultTransactionTimeout bounds how long a transaction left open by
	// an instance that crashed and did not come back (a new transactional
	// id) blocks its partitions' consumption.
	DefaultTransactionTimeout = 20 * time.Second
	// DefaultMaxRetryBackoff caps the pause between attempts while Kafka
	// does not answer.
	DefaultMaxRetryBackoff = 5 * time.Second
	// DefaultFilterDeadLetterInterval is how often a subscription whose
	// filter fails at evaluation gets a filter_error dead letter.
	DefaultFilterDeadLetterInterval = time.Minute
	// DefaultMissingTopicGrace is how long a missing deliveries or DLQ
	// topic is retried before Run gives up: long enough for a broker
	// restart to load its metadata, short enough to report a typo.
	DefaultMissingTopicGrace = 2 * time.Minute
)

// Where a group without committed offsets starts; see Config.StartOffset.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// Config configures a Router. Zero fields take the defaults noted.
type Config struct {
	// ClientOpts reach Kafka (seed brokers, TLS, SASL, logger, hooks). The
	// Router adds its own group, consume and transaction options.
	ClientOpts []kgo.Opt

	// Sources are the topics to consume; default topic.DefaultSource.
	// With SourceRegex they are regular expressions, and Hookline's own
	// topics under Topics are excluded even if they match.
	Sources     []string
	SourceRegex bool
	// StartOffset is where the group reads a source partition it has no
	// committed offset for: StartEarliest (the default) routes every
	// event the topic still holds, StartLatest only events written after
	// the group got the partition. It applies to a new group, to a
	// partition added later, and to a group whose offsets Kafka expired
	// (offsets.retention.minutes, 7 days by default, after its last member
	// left): with StartEarliest such a group routes, and so delivers,
	// every retained event again.
	StartOffset string
	// Group is the consumer group; default DefaultGroup.
	Group string
	// TransactionalID must be unique per running instance and stable
	// across its restarts, so that a restarted instance fences its
	// previous incarnation and aborts the transaction it left open.
	// Required.
	TransactionalID string
	// Topics names the deliveries and dead-letter topics. The zero value
	// means no prefix; use topic.Default() for "hookline.".
	Topics topic.Names

	// MaxEventBytes bounds a source record (key, value and headers);
	// larger ones are dead-lettered as too_large. Default
	// DefaultMaxEventBytes.
	MaxEventBytes int
	// MaxRecordBytes bounds every produced record and is the producer's
	// batch limit; keep it at or below the deliveries and DLQ topics'
	// max.message.bytes. Default DefaultMaxRecordBytes.
	MaxRecordBytes int
	// RejectUnknownTypes dead-letters events whose type has no registered
	// schema (reason unknown_type). By default they are routed.
	RejectUnknownTypes bool
	// FilterDeadLetterInterval bounds the filter_error dead letters of a
	// subscription whose filter fails at evaluation: at most one per
	// interval (and per transaction); the events in between are counted
	// (Batch.FilterDeadLettersSuppressed) and logged, not dead-lettered.
	// Default DefaultFilterDeadLetterInterval.
	FilterDeadLetterInterval time.Duration

	// MaxPollRecords bounds the records routed in one transaction (the
	// size bound); default DefaultMaxPollRecords.
	MaxPollRecords int
	// BatchWait is the time bound of a transaction's batch: the least time
	// between the starts of two transactions. A batch that begins sooner
	// than BatchWait after the previous transaction began keeps collecting
	// events until then, or until it holds MaxPollRecords; one that
	// begins later starts at once if it is a trickle, and takes in one
	// more fetch (at most BatchWait) if its records waited while the
	// previous transaction was open. Each transaction costs the
	// broker about the same whatever its size, so this bounds the
	// transactions per second under load while adding no latency to
	// sparse events. Default DefaultBatchWait; negative means no wait.
	BatchWait time.Duration
	// BusyBatchWait takes BatchWait's place while events reach the
	// router at BusyRate events/s or more (an average over the last
	// transactions of their records and of the time between their
	// starts). Under load a longer wait means fewer, larger transactions
	// (at about 3,000 events/s on a 2-core machine, 40 ms instead of 5 ms
	// cut the broker's CPU per event to a third), while events at a lower
	// rate keep the short wait and its latency. During a busy wait the
	// router does not fetch the batch's events as they arrive: they
	// settle at the broker and come in about two fetches at its end,
	// unless the wait is expected to fill the batch (Router.settle). Default
	// DefaultBusyBatchWait and DefaultBusyRate; a BusyBatchWait that is
	// negative or not above BatchWait is never used, nor is it when
	// BatchWait is negative (no wait at all).
	BusyBatchWait time.Duration
	BusyRate      float64
	// SessionTimeout and RebalanceTimeout override franz-go's defaults
	// (45 s, 60 s) when positive. A crashed instance holds its partitions
	// until its session times out.
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	// TransactionTimeout is how long the broker lets a transaction stay
	// open; default DefaultTransactionTimeout. It must exceed the time to
	// route one batch.
	TransactionTimeout time.Duration
	// Workers is how many goroutines route a batch's records (the
	// records are still produced in consumption order); default
	// GOMAXPROCS.
	Workers int
	// DrainTimeout bounds how long Run finishes the batch in hand after its
	// context ends; default DefaultDrainTimeout.
	DrainTimeout time.Duration
	// MaxRetryBackoff caps the pause between attempts while Kafka does not
	// answer; default DefaultMaxRetryBackoff.
	MaxRetryBackoff time.Duration
	// MissingTopicGrace is how long producing to a missing topic is
	// retried before Run ends with ErrConfig; default
	// DefaultMissingTopicGrace.
	MissingTopicGrace time.Duration
}

func (c *Config) setDefaults() {
	if len(c.Sources) == 0 {
		c.Sources = []string{topic.DefaultSource}
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.StartOffset == "" {
		c.StartOffset = StartEarliest
	}
	if c.FilterDeadLetterInterval == 0 {
		c.FilterDeadLetterInterval = DefaultFilterDeadLetterInterval
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = DefaultMaxEventBytes
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = DefaultMaxPollRecords
	}
	if c.BatchWait == 0 {
		c.BatchWait = DefaultBatchWait
	}
	if c.BusyBatchWait == 0 {
		c.BusyBatchWait = DefaultBusyBatchWait
	}
	if c.BusyRate == 0 {
		c.BusyRate = DefaultBusyRate
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = DefaultTransactionTimeout
	}
	if c.MaxRetryBackoff == 0 {
		c.MaxRetryBackoff = DefaultMaxRetryBackoff
	}
	if c.MissingTopicGrace == 0 {
		c.MissingTopicGrace = DefaultMissingTopicGrace
	}
}

// Validate checks c after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	if c.TransactionalID == "" {
		return errors.New("route: a transactional id is required")
	}
	for _, s := range c.Sources {
		if s == "" {
			return errors.New("route: empty source topic")
		}
		if c.SourceRegex {
			if _, err := regexp.Compile(s); err != nil {
				return fmt.Errorf("route: source pattern %q: %w", s, err)
			}
			continue
		}
		if slices.Contains(c.ownTopics(), s) || regexp.MustCompile(c.excludePattern()).MatchString(s) {
			return fmt.Errorf("route: source topic %q is one of Hookline's own topics (deliveries, retry tiers, DLQ, attempts, tables)", s)
		}
	}
	switch {
	case c.StartOffset != StartEarliest && c.StartOffset != StartLatest:
		return fmt.Errorf("route: start offset %q: want %s or %s", c.StartOffset, StartEarliest, StartLatest)
	case c.FilterDeadLetterInterval < 0:
		return errors.New("route: filter dead-letter interval must not be negative")
	case c.MaxEventBytes < 0:
		return errors.New("route: max event bytes must be positive")
	case c.MaxRecordBytes < 1024 || c.MaxRecordBytes > 1<<30:
		return errors.New("route: max record bytes must be between 1 KiB and 1 GiB")
	case c.Workers < 0:
		return errors.New("route: workers must be positive")
	case !(c.BusyRate > 0) || math.IsInf(c.BusyRate, 0):
		return errors.New("route: busy rate must be a positive number of events/s")
	case c.MaxPollRecords < 0:
		return errors.New("route: max poll records must be positive")
	case c.DrainTimeout < 0:
		return errors.New("route: drain timeout must not be negative")
	case c.MaxRetryBackoff < 0 || c.MissingTopicGrace < 0:
		return errors.New("route: max retry backoff and missing topic grace must not be negative")
	}
	return nil
}

// ownTopics are the topics the router must never consume: what it
// writes, and Hookline's other records.
func (c Config) ownTopics() []string {
	return []string{c.Topics.Deliveries(), c.Topics.DLQ(), c.Topics.Subscriptions(), c.Topics.Attempts(),
		c.Topics.EventTypes(), c.Topics.Idempotency(), c.Topics.EndpointStatus()}
}

// excludePattern matches every Hookline topic under c.Topics.
func (c Config) excludePattern() string {
	return "^" + regexp.QuoteMeta(c.Topics.Prefix) + `(deliveries|dlq|subscriptions|attempts|event-types|idempotency|endpoint-status|retry\.[0-9]+)$`
}

// resetOffset is where a partition without a committed offset starts.
func (c Config) resetOffset() kgo.Offset {
	if c.StartOffset == StartLatest {
		return kgo.NewOffset().AtEnd()
	}
	return kgo.NewOffset().AtStart()
}

// clientOpts returns the options of the router's transactional group
// client.
func (c Config) clientOpts() []kgo.Opt {
	opts := append(slices.Clone(c.ClientOpts),
		kgo.ConsumerGroup(c.Group),
		kgo.ConsumeTopics(c.Sources...),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(c.resetOffset()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.TransactionalID(c.TransactionalID),
		kgo.ProducerBatchMaxBytes(int32(c.MaxRecordBytes)),
		// Fetch whole oversize records (to dead-letter them) in one go.
		kgo.FetchMaxPartitionBytes(int32(max(1<<20, min(c.MaxEventBytes, 1<<28)+64<<10))),
	)
	if c.SourceRegex {
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeExcludeTopics(c.excludePattern()))
	}
	if c.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(c.SessionTimeout))
		// franz-go's 3 s default must stay below a third of the session.
		opts = append(opts, kgo.HeartbeatInterval(min(3*time.Second, c.SessionTimeout/3)))
	}
	if c.RebalanceTimeout > 0 {
		opts = append(opts, kgo.RebalanceTimeout(c.RebalanceTimeout))
	}
	opts = append(opts, kgo.TransactionTimeout(c.TransactionTimeout),
		// A produce that cannot reach a broker fails within half the
		// transaction timeout, so the Router aborts and retries the
		// batch itself (and reports not ready) instead of waiting in
		// Flush while the broker times the transaction out.
		// (franz-go's floor is one second).
		kgo.RecordDeliveryTimeout(max(c.TransactionTimeout/2, time.Second)))
	return opts
}
