package kafkahealth_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hookline/hookline/producer/internal/kafkahealth"
)

func TestProbesFollowKafka(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var reachable atomic.Bool
		reachable.Store(true)
		tr := kafkahealth.New(func(context.Context) error {
			if reachable.Load() {
				return nil
			}
			return errors.New("connection refused")
		}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go tr.Run(ctx)
		synctest.Wait()
		if err := tr.Check(); err != nil {
			t.Fatalf("Check with Kafka up: %v", err)
		}
		down := tr.Down()
		reachable.Store(false)
		time.Sleep(kafkahealth.DefaultProbeInterval)
		synctest.Wait()
		if err := tr.Check(); !errors.Is(err, kafkahealth.ErrDown) {
			t.Fatalf("Check a probe after Kafka went away: %v, want ErrDown", err)
		}
		select {
		case <-down:
		default:
			t.Fatal("Down not closed")
		}
		reachable.Store(true)
		time.Sleep(kafkahealth.DefaultDownProbeInterval)
		synctest.Wait()
		if err := tr.Check(); err != nil {
			t.Fatalf("Check a probe after Kafka came back: %v", err)
		}
		select {
		case <-tr.Down():
			t.Fatal("Down closed while Kafka is up")
		default:
		}
	})
}
