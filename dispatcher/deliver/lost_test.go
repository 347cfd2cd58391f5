package deliver_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestLostPartitionsStopAtOnce: a member whose partitions are lost (the
// coordinator no longer knows it: its heartbeat is answered
// UNKNOWN_MEMBER_ID) cancels its requests in flight at once, without the
// grace a revoke gets (five minutes here), and commits nothing; when it
// joins again it sends the delivery again and commits it.
//
// It runs on an in-process kfake broker of its own whatever KAFKA_BROKERS
// says: only there can the test answer a heartbeat for the coordinator.
func TestLostPartitionsStopAtOnce(t *testing.T) {
	t.Parallel()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	e := newEnvOn(t, &kafkatest.Cluster{Kind: kafkatest.KindKfake, Brokers: kc.ListenAddrs()}, 1)

	release := make(chan struct{})
	var cancelled atomic.Int32
	hang := func(r *http.Request, _ []byte) int {
		select {
		case <-release:
			return http.StatusNoContent
		case <-r.Context().Done():
			cancelled.Add(1)
			return 0
		}
	}
	// The request's own timeout (a minute) must not be what ends it.
	f := newFleet(t, "lost", 1, hang, func(s *record.Subscription) { s.TimeoutMillis = 60_000 })
	e.putSubs(t, f.subs...)
	cfg := e.config(t)
	cfg.RevokeGrace = 5 * time.Minute // a revoke would wait; a loss must not
	e.start(t, cfg)
	f.produce(t, e, 1)
	rc := f.recv[f.subs[0].ID]
	waitFor(t, 30*time.Second, "the request in flight", func() bool { return rc.inflight.Load() == 1 })

	var forgot atomic.Bool
	kc.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		hb := req.(*kmsg.HeartbeatRequest)
		if hb.Group != cfg.Group || !forgot.CompareAndSwap(false, true) {
			kc.KeepControl()
			return nil, nil, false
		}
		resp := hb.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil, true
	})
	waitFor(t, 30*time.Second, "the request cancelled when the partitions were lost", func() bool { return cancelled.Load() >= 1 })
	if at, ok := e.committed(t, cfg.Group)[0]; ok && at > 0 {
		t.Errorf("committed to %d past a delivery that was never answered", at)
	}
	waitFor(t, 60*time.Second, "the request sent again after rejoining", func() bool { return rc.inflight.Load() == 1 })
	close(release)
	waitFor(t, 30*time.Second, "the delivery", func() bool { return f.missing() == 0 })
	e.waitCommitted(t, cfg.Group, 30*time.Second)
}
