package deliver_test

import (
	"context"
	"net/netip"

	"github.com/hookline/hookline/dispatcher/deliver"
	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Running a dispatcher in-process, as the e2e tests do: a subscription
// table and the dispatcher, both until ctx ends. The dispatcher waits for
// the table to catch up before it joins its group.
func ExampleNew() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kafka := []kgo.Opt{kgo.SeedBrokers("127.0.0.1:9092")}
	names := topic.Default()
	table := subtable.New(kafka, names.Subscriptions())
	d, err := deliver.New(deliver.Config{
		Topics:     names,
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, // local receivers
	}, table, kafka)
	if err != nil {
		panic(err)
	}
	go func() { _ = table.Run(ctx) }()
	go func() { _ = d.Run(ctx) }() // returns after draining, committing and leaving the group
}
