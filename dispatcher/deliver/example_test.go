package deliver_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"time"

	"github.com/hookline/hookline/dispatcher/deliver"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/hookline/hookline/schemas/webhook"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Running a dispatcher in-process, as hookctl dev does: a subscription
// table and the dispatcher, both until ctx ends. The dispatcher waits for
// the table to catch up before it joins its group; here it delivers one
// signed payment to a local receiver, which verifies the signature.
func ExampleNew() {
	// An in-process Kafka with Hookline's topics.
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	kafka := []kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}
	names := topic.Default()
	admin, err := kgo.NewClient(kafka...)
	if err != nil {
		panic(err)
	}
	defer admin.Close()
	for _, s := range names.Specs(topic.SpecOpts{Partitions: 1}) {
		if _, err := kadm.NewClient(admin).CreateTopic(context.Background(), s.Partitions, s.ReplicationFactor, nil, s.Name); err != nil {
			panic(err)
		}
	}

	// A receiver that checks the Standard Webhooks signature.
	secret, _ := webhook.NewSecret()
	verifier, _ := webhook.NewVerifier([]string{secret.Encode()})
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verifier.Verify(r.Header, body); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got <- string(body)
	}))
	defer srv.Close()

	// A subscription, and a delivery for it as the router writes one.
	sub := record.Subscription{ID: "sub_seed", URL: srv.URL + "/webhook", EventTypes: []string{"payment_success"},
		Secrets: []record.Secret{{Key: secret.Encode()}}, Format: record.FormatRaw}
	sub.Normalize()
	ev := event.Event{ID: "evt_1", Source: "/seed", Type: "payment_success", SpecVersion: event.SpecVersion,
		DataContentType: event.ContentTypeJSON, Data: []byte(`{"amount":49.99,"customer":"alice@example.com"}`)}
	del := record.NewDelivery(ev, sub.ID, time.Now())
	subRec, _ := sub.Record(names.Subscriptions())
	delRec, _ := del.Record(names.Deliveries())
	if err := admin.ProduceSync(context.Background(), subRec, delRec).FirstErr(); err != nil {
		panic(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	table := subtable.New(kafka, names.Subscriptions())
	d, err := deliver.New(deliver.Config{
		Topics:     names,
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, // local receivers
	}, table, kafka)
	if err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = table.Run(ctx) })
	wg.Go(func() { _ = d.Run(ctx) }) // returns after draining, committing and leaving the group

	fmt.Println(<-got)
	cancel()
	wg.Wait()
	// Output: {"amount":49.99,"customer":"alice@example.com"}
}
