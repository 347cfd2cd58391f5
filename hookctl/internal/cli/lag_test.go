package cli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestLag(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Ten deliveries over two partitions; a group that committed three of
	// partition 0 and all of partition 1.
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: f.names.Deliveries(), Partition: int32(i % 2), Value: []byte(fmt.Sprint(i))})
	}
	cl := f.c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	group := kafkatest.Name(t, "g")
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: f.names.Deliveries(), Partition: 0, At: 3, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: f.names.Deliveries(), Partition: 1, At: 5, LeaderEpoch: -1})
	if err := f.c.Admin(t).CommitAllOffsets(t.Context(), group, offs); err != nil {
		t.Fatal(err)
	}
	missing := kafkatest.Name(t, "nobody")

	var lags []struct {
		Group  string `json:"group"`
		Lag    int64  `json:"lag"`
		Error  string `json:"error"`
		Topics []struct {
			Topic      string `json:"topic"`
			Lag        int64  `json:"lag"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Committed int64 `json:"committed"`
				End       int64 `json:"end"`
				Lag       int64 `json:"lag"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	out := f.ok(t, "lag", "--group", group+","+missing, "-o", "json")
	if err := json.Unmarshal([]byte(out), &lags); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(lags) != 2 || lags[0].Group != group || lags[0].Lag != 2 || len(lags[0].Topics) != 1 ||
		lags[0].Topics[0].Topic != f.names.Deliveries() || lags[0].Topics[0].Lag != 2 {
		t.Fatalf("lag = %s", out)
	}
	for _, p := range lags[0].Topics[0].Partitions {
		if p.End != 5 || p.Lag != p.End-p.Committed {
			t.Errorf("partition %+v", p)
		}
	}
	if lags[1].Group != missing || lags[1].Lag != 0 || len(lags[1].Topics) != 0 || lags[1].Error != "no such group" {
		t.Fatalf("lag of a group that does not exist = %+v", lags[1])
	}

	out = f.ok(t, "lag", "--group", group)
	if !strings.Contains(out, "GROUP") || !strings.Contains(out, f.names.Deliveries()) || !strings.Contains(out, group) {
		t.Fatalf("table lag:\n%s", out)
	}
}

// TestLagTransactional: a group that has processed every record of a
// transactional topic commits the offset after its last record, below the
// commit marker; lag must read 0, and count only records otherwise.
func TestLagTransactional(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cl := f.c.Client(t, kgo.TransactionalID(kafkatest.Name(t, "tx")), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	write := func(end kgo.TransactionEndTry, n int) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			r := &kgo.Record{Topic: f.names.Deliveries(), Partition: 0, Value: []byte(fmt.Sprint(i))}
			if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(t.Context(), end); err != nil {
			t.Fatal(err)
		}
	}
	// Offsets 0-2 records, 3 marker, 4-5 aborted, 6 marker, 7-8 records, 9 marker.
	write(kgo.TryCommit, 3)
	write(kgo.TryAbort, 2)
	write(kgo.TryCommit, 2)
	f.waitStable(t, f.names.Deliveries())

	// What a consumer commits after the last record (offset 8), and after
	// the first transaction's records.
	drained, behind := kafkatest.Name(t, "drained"), kafkatest.Name(t, "behind")
	for group, at := range map[string]int64{drained: 9, behind: 3} {
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: f.names.Deliveries(), Partition: 0, At: at, LeaderEpoch: -1})
		if err := f.c.Admin(t).CommitAllOffsets(t.Context(), group, offs); err != nil {
			t.Fatal(err)
		}
	}
	var lags []struct {
		Group  string `json:"group"`
		Lag    int64  `json:"lag"`
		Topics []struct {
			Partitions []struct {
				Partition int32 `json:"partition"`
				End       int64 `json:"end"`
				Lag       int64 `json:"lag"`
				Markers   int64 `json:"markers"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	out := f.ok(t, "lag", "--group", drained+","+behind, "-o", "json")
	if err := json.Unmarshal([]byte(out), &lags); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(lags) != 2 || lags[0].Lag != 0 || lags[1].Lag != 2 {
		t.Fatalf("lag of a drained and a behind group = %s", out)
	}
	p0 := lags[1].Topics[0].Partitions[0]
	if p0.Partition != 0 || p0.End != 10 || p0.Lag != 2 || p0.Markers != 5 {
		t.Fatalf("partition 0 of the group behind: %+v", p0)
	}
}
