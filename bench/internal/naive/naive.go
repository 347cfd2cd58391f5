// Package naive is the baseline of issue 11: the simplest Kafka webhook
// consumer one would write with franz-go. One goroutine per partition of
// each poll POSTs that partition's deliveries one after the other; no
// signing, no retries, no attempt log, no dead letters; offsets are
// committed after every poll. It reads the same deliveries topic and
// subscription records as the dispatcher, so the two can be compared on
// one backlog.
package naive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is what the consumer reads and where it commits.
type Config struct {
	Brokers []string
	Prefix  string // topic prefix, as the dispatcher's --topic-prefix
	Group   string
}

// Stats are the consumer's counts.
type Stats struct {
	Delivered, Failed, Undecodable atomic.Int64
}

// Run loads the subscription table, then consumes and delivers until ctx
// ends.
func Run(ctx context.Context, cfg Config, st *Stats) error {
	names := topic.New(cfg.Prefix)
	urls, err := loadURLs(ctx, cfg.Brokers, names.Subscriptions())
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(names.Deliveries()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
	)
	if err != nil {
		return fmt.Errorf("naive: %w", err)
	}
	// With BlockRebalanceOnPoll, leaving the group on Close waits for
	// AllowRebalance.
	defer func() {
		cl.AllowRebalance()
		cl.Close()
	}()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			fmt.Printf("naive: fetch %s/%d: %v\n", t, p, err)
		})
		var wg sync.WaitGroup
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			wg.Go(func() {
				for _, r := range p.Records {
					deliver(ctx, client, urls, r, st)
				}
			})
		})
		wg.Wait()
		if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
			fmt.Printf("naive: commit: %v\n", err)
		}
		cl.AllowRebalance()
	}
}

func deliver(ctx context.Context, client *http.Client, urls map[string]string, r *kgo.Record, st *Stats) {
	d, err := record.DecodeDelivery(r.Value)
	if err != nil {
		st.Undecodable.Add(1)
		return
	}
	url, ok := urls[d.SubscriptionID]
	if !ok {
		st.Undecodable.Add(1)
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Event.Data))
	if err != nil {
		st.Failed.Add(1)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", d.ID)
	resp, err := client.Do(req)
	if err != nil {
		st.Failed.Add(1)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		st.Failed.Add(1)
		return
	}
	st.Delivered.Add(1)
}

// loadURLs reads the subscriptions topic to its end: subscription id to
// webhook URL.
func loadURLs(ctx context.Context, brokers []string, subsTopic string) (map[string]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(subsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, fmt.Errorf("naive: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, subsTopic)
	if err != nil {
		return nil, fmt.Errorf("naive: end offsets of %s: %w", subsTopic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	urls := map[string]string{}
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := fs.Err0(); err != nil && !errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("naive: reading %s: %w", subsTopic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Value == nil {
				delete(urls, string(r.Key))
			} else if s, err := record.DecodeSubscription(r.Value); err == nil {
				urls[s.ID] = s.URL
			}
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
	}
	return urls, nil
}
