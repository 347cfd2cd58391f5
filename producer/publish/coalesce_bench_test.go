package publish_test

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/producer/publish"
	"github.com/hookline/hookline/schemas/event"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceCounter counts produce requests and the records Kafka took.
type produceCounter struct{ requests, records atomic.Int64 }

func (p *produceCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == int16(kmsg.Produce) && err == nil {
		p.requests.Add(1)
	}
}

func (p *produceCounter) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	p.records.Add(int64(m.NumRecords))
}

// BenchmarkCoalesceClosedLoop has 32 callers each publish one event of
// about 230 bytes and wait for it, again and again, as the ingest API's
// clients do in issue 18's live scenario, and reports the records per
// produce request the coalescer makes of them (32 at most).
//
//	KAFKA_BROKERS=127.0.0.1:9092 go test -run '^$' -bench CoalesceClosedLoop ./publish/
func BenchmarkCoalesceClosedLoop(b *testing.B) {
	const callers = 32
	c := kafkatest.New(b)
	tp := c.Topic(b, 8, nil)
	var count produceCounter
	pub, err := publish.New(publish.SeedBrokers(c.Brokers...), publish.Topic(tp), publish.Coalesce(), publish.AllowUnknownTypes(),
		publish.KafkaOpts(kgo.WithHooks(&count)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pub.Close)
	data := func(i int) []byte {
		head := `{"type":"bench.t` + strconv.Itoa(i%10) + `","seq":` + strconv.Itoa(i) + `,"pad":"`
		return []byte(head + strings.Repeat("x", 230-len(head)-2) + `"}`)
	}
	if err := pub.Publish(b.Context(), &event.Event{Type: "bench.t0", Data: data(0)}); err != nil {
		b.Fatal(err) // the topic's metadata, before the clock runs
	}
	count.requests.Store(0)
	count.records.Store(0)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range callers {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= b.N; i = int(next.Add(1)) {
				if err := pub.Publish(b.Context(), &event.Event{Type: "bench.t" + strconv.Itoa(i%10), Data: data(i)}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if n := count.requests.Load(); n > 0 {
		b.ReportMetric(float64(count.records.Load())/float64(n), "records/request")
	}
}
