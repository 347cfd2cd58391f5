// Package dlqreplay is what hookctl dlq replay and the producer API's
// POST /v1/dead-letters/replay share, so that a replay started in one
// continues in the other: the record that replays a dead letter, and the
// name of the consumer group that keeps a selection's progress.
//
// Each caller reads the dead-letter topic, selects and paces on its own
// (hookctl with flags, a progress bar and --rate; the API per request);
// both must derive the same name from the same selection text and send
// the same records.
package dlqreplay

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"time"

	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

// NamePrefix starts the names derived from a selection.
const NamePrefix = "hookline-replay-"

// Name is the consumer group that keeps the progress of replays of a
// selection, given as its canonical text ("subscription=a reason=exhausted",
// "all").
func Name(selection string) string {
	sum := sha256.Sum256([]byte(selection))
	return NamePrefix + hex.EncodeToString(sum[:6])
}

// Record returns the record that replays dl, the dead letter read from
// src, or nil when there is nothing to replay (no delivery and no whole
// raw record). A dispatch-stage dead letter (or a route-stage one that
// carries the delivery a filter would have made) becomes its delivery
// again, to the deliveries topic: the same id, so receivers see the
// original webhook-id, with a fresh attempt sequence and retry schedule,
// due now, and ReplayOf naming src. A route-stage dead letter with its
// whole raw record becomes that record again, to its source topic, with a
// replay-of header; only with includeRoute, else skippedRoute is true.
func Record(src *kgo.Record, dl *record.DeadLetter, deliveries string, includeRoute bool) (rec *kgo.Record, skippedRoute bool, err error) {
	replayOf := record.ProvenanceOf(src).String()
	if del := dl.Delivery; del != nil {
		if del.ID == "" || del.SubscriptionID == "" {
			return nil, false, nil
		}
		d := *del
		d.Attempt, d.NotBefore, d.FirstAttemptAt, d.ReplayOf = 0, time.Time{}, time.Time{}, replayOf
		d.Tier, d.ParkedAt = 0, time.Time{} // the whole retry schedule again
		rec, err := d.Record(deliveries)
		return rec, false, err
	}
	raw := dl.Raw
	if dl.Stage != record.StageRoute || raw == nil || dl.Source.Topic == "" || RawCut(dl) {
		return nil, false, nil
	}
	if !includeRoute {
		return nil, true, nil
	}
	rec = &kgo.Record{Topic: dl.Source.Topic, Key: raw.Key, Value: raw.Value}
	for _, k := range slices.Sorted(maps.Keys(raw.Headers)) {
		if k != header.ReplayOf {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(raw.Headers[k])})
		}
	}
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: header.ReplayOf, Value: []byte(replayOf)})
	return rec, false, nil
}

// RawCut reports whether the router had to cut dl's raw record short to
// fit the dead-letter topic (or kept none of it): replaying it would
// produce a different record.
func RawCut(dl *record.DeadLetter) bool {
	return dl.Reason == record.ReasonTooLarge || dl.Raw == nil || dl.Raw.Value == nil || dl.Raw.Truncated
}
