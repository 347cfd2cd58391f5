package publish_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/producer/publish"
	"github.com/hookline/hookline/schemas/event"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCoalesce: with one batch held in the broker, calls queue behind it;
// a call that gives up while queued is not produced, the others leave
// together once the batch is acknowledged, and Close fails what is still
// queued with ErrClosed. It holds the broker's answers, so it runs its
// own kfake cluster.
func TestCoalesce(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	c := &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: kc.ListenAddrs()}
	tp := c.Topic(t, 1, nil)
	pub := newClient(t, c, publish.Topic(tp), publish.Coalesce(), publish.AllowUnknownTypes())
	ev := func(id string) *event.Event {
		return &event.Event{ID: id, Type: "test.coalesce", DataContentType: "application/json", Data: []byte(`{}`)}
	}
	// Ready the topic, so the held request below is the first event's.
	if err := pub.Publish(t.Context(), ev("warm")); err != nil {
		t.Fatal(err)
	}
	release, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var produces int
	var mu sync.Mutex
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		mu.Lock()
		produces++
		mu.Unlock()
		once.Do(func() { close(held) })
		kc.SleepControl(func() { <-release })
		return nil, nil, false
	})
	results := make(chan error, 4)
	go func() { results <- pub.Publish(t.Context(), ev("first")) }()
	<-held
	gaveUp, giveUp := context.WithCancel(t.Context())
	pub.PublishAsync(gaveUp, ev("gave-up"), func(_ *event.Event, err error) { results <- err })
	for _, id := range []string{"second", "third"} {
		go func() { results <- pub.Publish(t.Context(), ev(id)) }()
	}
	for deadline := time.Now().Add(30 * time.Second); pub.Buffered() < 4; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 4 events wait for Kafka", pub.Buffered())
		}
		time.Sleep(5 * time.Millisecond)
	}
	giveUp()
	close(release)
	var canceled int
	for range 4 {
		switch err := <-results; {
		case err == nil:
		case errors.Is(err, context.Canceled):
			canceled++
		default:
			t.Errorf("publish: %v", err)
		}
	}
	if canceled != 1 {
		t.Errorf("%d calls failed with context.Canceled, want the one that gave up", canceled)
	}
	var ids []string
	for _, r := range consume(t, c, tp, 4) {
		for _, h := range r.Headers {
			if h.Key == "ce_id" {
				ids = append(ids, string(h.Value))
			}
		}
	}
	if want := []string{"warm", "first", "second", "third"}; len(ids) != 4 || ids[0] != want[0] || ids[1] != want[1] {
		t.Errorf("topic holds %v, want %v (in some order after first)", ids, want)
	}
	mu.Lock()
	if produces != 2 {
		t.Errorf("%d produce requests after the warm-up, want 2: the held one and one shared by the queued calls", produces)
	}
	mu.Unlock()

	// Close fails what is still queued.
	held2 := make(chan struct{})
	var once2 sync.Once
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		once2.Do(func() { close(held2) })
		kc.SleepControl(func() { <-block })
		return nil, nil, false
	})
	go func() { results <- pub.Publish(t.Context(), ev("in-flight")) }()
	<-held2
	queued := make(chan error, 1)
	pub.PublishAsync(t.Context(), ev("queued"), func(_ *event.Event, err error) { queued <- err })
	pub.Close()
	if err := <-queued; !errors.Is(err, publish.ErrClosed) {
		t.Errorf("a call queued at Close: %v, want ErrClosed", err)
	}
	<-results // the one in flight fails too; its outcome is the Kafka client's
}
