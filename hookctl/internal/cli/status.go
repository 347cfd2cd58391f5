package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// endpointStatus reads the latest endpoint status of subscription id from
// the compacted endpoint-status topic (written by the dispatcher when a
// circuit breaker changes state). It reports false when there is none: a
// breaker that never opened, or a cluster whose topics predate it.
func (o *options) endpointStatus(ctx context.Context, cl *kgo.Client, id string) (record.EndpointStatus, bool, error) {
	topic := o.names().EndpointStatus()
	sp, err := snapshot(ctx, kadm.NewClient(cl), topic)
	if errors.Is(err, ErrNoTopic) {
		return record.EndpointStatus{}, false, nil
	}
	if err != nil {
		return record.EndpointStatus{}, false, err
	}
	var last record.EndpointStatus
	found := false
	err = o.scan(ctx, topic, sp, func(r *kgo.Record) error {
		if string(r.Key) != id {
			return nil
		}
		if r.Value == nil { // a tombstone
			found = false
			return nil
		}
		st, err := record.DecodeEndpointStatus(r.Value)
		if err != nil {
			return nil // an undecodable status says nothing
		}
		last, found = st, true
		return nil
	})
	if err != nil {
		return record.EndpointStatus{}, false, fmt.Errorf("reading %s: %w", topic, err)
	}
	return last, found, nil
}
