package route_test

import (
	"context"
	"fmt"

	"github.com/hookline/hookline/platform/subtable"
	"github.com/hookline/hookline/router/route"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Run a router in-process, as the e2e tests may: the caller owns and runs
// the subscription table, which the Router waits for before consuming.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	kafka := []kgo.Opt{kgo.SeedBrokers("127.0.0.1:9092")}
	names := topic.Default()
	table := subtable.New(kafka, names.Subscriptions())
	router, err := route.New(route.Config{
		ClientOpts:      kafka,
		Sources:         []string{"events"},
		TransactionalID: "hookline-router-example", // unique per instance
		Topics:          names,
	}, table)
	if err != nil {
		fmt.Println(err)
		cancel()
		return
	}
	tableDone, routerDone := make(chan error, 1), make(chan error, 1)
	go func() { tableDone <- table.Run(ctx) }()
	go func() { routerDone <- router.Run(ctx) }()

	// ... produce events, read deliveries ...

	// Stop: the router finishes its batch, commits and leaves the group.
	cancel()
	if err := <-routerDone; err != nil {
		fmt.Println(err)
	}
	<-tableDone
}
