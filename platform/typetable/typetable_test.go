package typetable_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/typetable"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/twmb/franz-go/pkg/kgo"
)

func put(t *testing.T, cl *kgo.Client, topic string, et record.EventType) {
	t.Helper()
	r, err := et.Record(topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestTableFeedsCatalogue reads history, then tails, and hands every
// change to the catalogue that validates events.
func TestTableFeedsCatalogue(t *testing.T) {
	t.Parallel()
	c := kafkatest.New(t)
	topic := c.Topic(t, 1, map[string]string{"cleanup.policy": "compact"})
	cl := c.Client(t)
	put(t, cl, topic, record.EventType{Name: "order.created", Schema: []byte(`{"type":"object","required":["id"]}`)})
	put(t, cl, topic, record.EventType{Name: "gone"})
	if err := cl.ProduceSync(t.Context(), record.Tombstone(topic, "gone"),
		&kgo.Record{Topic: topic, Key: []byte("bad"), Value: []byte("not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cat := registry.NewCatalogue()
	tbl := typetable.New(c.Opts(), topic, typetable.WithSink(cat))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tbl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	wctx, wcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer wcancel()
	if err := tbl.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	if tbl.Len() != 1 || tbl.Invalid() != 1 || cat.Has("gone") {
		t.Fatalf("after catching up: %d types, %d invalid, gone known: %v", tbl.Len(), tbl.Invalid(), cat.Has("gone"))
	}
	var ve *registry.ValidationError
	if err := cat.Validate("order.created", 0, []byte(`{}`)); !errors.As(err, &ve) {
		t.Fatalf("validation against the loaded schema: %v", err)
	}
	// A type registered while running applies to the next event.
	put(t, cl, topic, record.EventType{Name: "order.shipped"})
	deadline := time.Now().Add(30 * time.Second)
	for !cat.Has("order.shipped") {
		if time.Now().After(deadline) {
			t.Fatal("the new type never reached the catalogue")
		}
		time.Sleep(10 * time.Millisecond) // test code: polling
	}
	if _, ok := tbl.Get("order.shipped"); !ok {
		t.Fatal("the new type is not in the table")
	}
}
