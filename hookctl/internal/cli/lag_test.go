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
