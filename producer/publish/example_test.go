package publish_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/hookline/hookline/producer/publish"
	"github.com/hookline/hookline/schemas/event"
)

func ExampleClient_Publish() {
	pub, err := publish.New(
		publish.SeedBrokers("127.0.0.1:9092"),
		publish.Topic("events"),
		publish.Source("https://payments.example.com/gateway"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev := event.Event{
		Type:    "payment_success",
		Subject: "orders/1042", // the partition key: one order's events stay in order
		Data:    []byte(`{"type":"payment_success","amount":49.99,"customer":"jane@example.com"}`),
	}
	var invalid *publish.ValidationError
	switch err := pub.Publish(ctx, &ev); {
	case err == nil:
		log.Printf("published %s", ev.ID)
	case errors.As(err, &invalid):
		for _, f := range invalid.Fields {
			log.Printf("%s: %s", f.Field, f.Message)
		}
	case publish.IsRetryable(err):
		log.Printf("Kafka unavailable; retry %s later: %v", ev.ID, err)
	default:
		log.Print(err)
	}
}

func ExampleClient_PublishAsync() {
	pub, err := publish.New(publish.SeedBrokers("127.0.0.1:9092"), publish.Linger(20*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
	for i := range 3 {
		ev := &event.Event{Type: "sensor.reading", Subject: "greenhouse-7",
			Data: []byte(`{"device_id":"greenhouse-7","metric":"temperature","value":21.4,"unit":"Cel","read_at":"2025-03-14T15:09:26Z"}`)}
		pub.PublishAsync(context.Background(), ev, func(ev *event.Event, err error) {
			if err != nil {
				log.Printf("event %d (%s): %v", i, ev.ID, err)
			}
		})
	}
	// Wait for every acknowledgement before exiting.
	if err := pub.Flush(context.Background()); err != nil {
		log.Print(err)
	}
}
