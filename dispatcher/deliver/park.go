package deliver

import (
	"context"
	"strings"
	"time"

	"github.com/hookline/hookline/dispatcher/internal/retry"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Parking: a delivery whose subscription is paused (or not in the table
// yet) is produced to the first retry tier without an attempt, due after
// that tier's delay, and looked at again then. It keeps its tier, attempts
// and webhook-id, so parking never uses up retries, and it holds no window
// slot while it waits.
//
// Parked deliveries come round in the order they were parked again, which
// is not the order they were routed in once fresh ones and returning ones
// interleave. For an ordered subscription the dispatcher therefore keeps
// the ids it parked in routing order (a parkQueue): a parked delivery is
// sent only when it is at the head of its queue, others go round once
// more, and fresh deliveries queue behind while the queue is not empty.
// The queue lives in memory: after a restart or a rebalance of its
// partition, deliveries parked before are sent as they come round. It
// relies on all of a subscription's partitions being on one member, so it
// is not kept when the retry topics' partition counts differ from the
// deliveries topic's.

// parkQueue is the ids of one ordered subscription's parked deliveries,
// in the order they were first parked.
type parkQueue struct {
	partition int32 // the partition of the subscription's records
	ids       []string
	in        map[string]bool // ids still queued
}

// front returns the first id still queued, dropping ids removed out of
// turn.
func (q *parkQueue) front() string {
	for len(q.ids) > 0 && !q.in[q.ids[0]] {
		q.ids[0] = ""
		q.ids = q.ids[1:]
	}
	if len(q.ids) == 0 {
		return ""
	}
	return q.ids[0]
}

// park moves j to the first retry tier and reports whether that (or, if
// Kafka refuses it for good, a dead letter) is durable.
func (d *Dispatcher) park(ctx context.Context, j *job, why string) bool {
	next := j.del
	if !next.Parked() {
		next.ParkedAt = time.Now().UTC()
	}
	next.NotBefore = time.Now().Add(retry.Schedule(d.cfg.RetrySchedule).Delay(1, retry.Rand())).UTC()
	r, err := next.Record(d.cfg.Topics.Retry(1))
	if err == nil {
		// Parking keeps an ordered subscription's order by producing in
		// lane order, and franz-go keeps that order within a partition:
		// once this record is handed to the client (and queued, in the
		// same order), the next delivery of the lane may park behind it
		// without waiting for the ack. Every lane leaves at once, so a
		// paused subscription's backlog moves at the producer's pace.
		if j.ordered && !j.del.Parked() && !d.mixedPartitions && !j.part.stopped() {
			d.queueParked(j)
		}
		acked := make(chan error, 1)
		d.cl.Produce(ctx, r, func(_ *kgo.Record, err error) { acked <- err })
		d.leaveLane(j)
		if err := <-acked; err == nil {
			return d.parked(j, next, why)
		}
		// Not acked: produce again and wait, as for any record.
	}
	durable, produced := d.produceDelivery(ctx, j, next, 1)
	if !produced {
		return durable
	}
	return d.parked(j, next, why)
}

// parked notes that j was parked as next and reports true. A delivery
// parked because its subscription is paused (or not known yet) counts in
// Stats.Parked until it comes round again (comeRound).
func (d *Dispatcher) parked(j *job, next record.Delivery, why string) bool {
	d.rec.Parked()
	if strings.HasPrefix(why, "subscription ") { // paused, or not in the table yet
		d.mu.Lock()
		d.heldParked[j.del.ID] = j.part.id
		d.mu.Unlock()
	}
	if ce := d.log.Check(zap.DebugLevel, "parked"); ce != nil {
		ce.Write(zap.String("delivery_id", j.del.ID), zap.String("subscription_id", j.del.SubscriptionID),
			zap.String("why", why), zap.Time("not_before", next.NotBefore))
	}
	return true
}

// comeRound notes that j, maybe a parked delivery, is being worked again:
// it no longer waits in the retry path.
func (d *Dispatcher) comeRound(j *job) {
	d.mu.Lock()
	delete(d.heldParked, j.del.ID)
	d.mu.Unlock()
}

// Why a delivery is parked, when it is not its subscription's state.
const (
	whyBacklog = "backlog"
	whyOrdered = "ordered behind parked deliveries"
)

// queueParked puts j, a fresh delivery of an ordered subscription about
// to be parked, at the end of its subscription's park queue.
func (d *Dispatcher) queueParked(j *job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.parkq[j.del.SubscriptionID]
	if q == nil {
		q = &parkQueue{partition: j.part.id, in: map[string]bool{}}
		d.parkq[j.del.SubscriptionID] = q
	}
	q.ids = append(q.ids, j.del.ID)
	q.in[j.del.ID] = true
	j.queued = true
}

// parkTurn reports whether j, a delivery of an active ordered
// subscription, may be sent now: nothing of its subscription is parked, or
// j is the parked delivery at the head of the queue, or j was parked
// before this process knew of it.
func (d *Dispatcher) parkTurn(j *job) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.parkq[j.del.SubscriptionID]
	if q == nil {
		return true
	}
	if !j.del.Parked() {
		return q.front() == ""
	}
	return !q.in[j.del.ID] || q.front() == j.del.ID
}

// unpark notes that j, if it was parked (or queued to be), left the
// retry path for good.
func (d *Dispatcher) unpark(j *job) {
	if !j.del.Parked() && !j.queued {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.parkq[j.del.SubscriptionID]
	if q == nil {
		return
	}
	delete(q.in, j.del.ID)
	if q.front() == "" {
		delete(d.parkq, j.del.SubscriptionID)
	}
}

// forgetParked drops the park queues of subscriptions on partition id of
// a topic this member no longer owns: their parked deliveries may come
// round to another member now. Call with d.mu held.
func (d *Dispatcher) forgetParked(id int32) {
	for sub, q := range d.parkq {
		if q.partition == id {
			delete(d.parkq, sub)
		}
	}
	for del, p := range d.heldParked {
		if p == id {
			delete(d.heldParked, del)
		}
	}
}
