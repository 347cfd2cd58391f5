package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/producer/publish"
)

// BenchmarkIngest measures ingest throughput through the HTTP API, from
// request to Kafka acknowledgement, in one run two ways: one event per
// request, and batches of 100 events per request. Each iteration sends
// eventsPerRound events each way from the same number of concurrent
// clients. It reports events/s for both and their ratio.
//
//	go test -run '^$' -bench Ingest -benchtime 5x ./internal/httpapi/
//	KAFKA_BROKERS=127.0.0.1:9092 go test -run '^$' -bench Ingest -benchtime 5x ./internal/httpapi/
func BenchmarkIngest(b *testing.B) {
	const (
		eventsPerRound = 2000
		batchSize      = 100
		clients        = 16
	)
	// No linger, as the producer binary runs by default (--linger 0):
	// every request waits for its acknowledgement, so lingering only adds
	// latency; concurrent requests still share produce requests.
	e := newEnv(b, envOpts{pubOpts: []publish.Opt{publish.Linger(0)}})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	b.Cleanup(client.CloseIdleConnections)
	single := []byte(seedEvent)
	batch := []byte(`{"events":[` + strings.Repeat(seedEvent+",", batchSize-1) + seedEvent + `]}`)

	// send posts requests bodies from clients goroutines and returns the
	// time it took.
	send := func(body []byte, requests int) time.Duration {
		work := make(chan struct{}, requests)
		for range requests {
			work <- struct{}{}
		}
		close(work)
		start := time.Now()
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for range work {
					req, _ := http.NewRequest("POST", e.srv.URL+"/v1/events", bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+apiKey)
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}

	send(single, clients) // warm up connections and partition metadata
	var singleTime, batchTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		singleTime += send(single, eventsPerRound)
		batchTime += send(batch, eventsPerRound/batchSize)
	}
	b.StopTimer()
	n := float64(b.N * eventsPerRound)
	singleRate, batchRate := n/singleTime.Seconds(), n/batchTime.Seconds()
	b.ReportMetric(singleRate, "single-events/s")
	b.ReportMetric(batchRate, "batched-events/s")
	b.ReportMetric(batchRate/singleRate, "batch/single")
	b.ReportMetric(0, "ns/op") // an iteration is two rounds of different work; the rates say it
}
