package fanout

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/twmb/franz-go/pkg/kgo"
)

// deliveryEncoder builds the fresh Delivery records of one event.
//
// record.(*Delivery).Record encodes the event anew for every subscription
// and re-compacts it several times on the way, which made JSON encoding
// most of the router's CPU time on wide fan-outs. This encoder encodes the
// event once and splices in each delivery's id and subscription id. Its
// output is the same bytes as record.NewDelivery(...).Record(topic) —
// TestDeliveryEncoderMatchesRecord and FuzzDeliveryEncoder pin that — so
// the record format still has one owner, schemas/record.
type deliveryEncoder struct {
	topic string
	ev    *event.Event
	tail  []byte // the Delivery JSON after the subscription id

}

const attemptZero = "0"

var version = []byte(strconv.Itoa(record.Version))

// newDeliveryEncoder encodes ev once. It fails when the event cannot be
// carried in a record (an extension named like a reserved attribute).
// accepted is Delivery.AcceptedAt (zero: left out).
func newDeliveryEncoder(topic string, ev *event.Event, now, accepted time.Time) (*deliveryEncoder, error) {
	evJSON, err := ev.MarshalExact()
	if err != nil {
		return nil, err
	}
	routedAt, err := json.Marshal(now.UTC())
	if err != nil {
		return nil, err
	}
	// encoding/json writes the embedded fields of Delivery.MarshalJSON's
	// wrapper first and its shadowing "event" field last.
	tail := make([]byte, 0, len(evJSON)+len(routedAt)+48)
	tail = append(tail, `,"attempt":0`...)
	if !now.IsZero() {
		tail = append(tail, `,"routed_at":`...)
		tail = append(tail, routedAt...)
	}
	if !accepted.IsZero() {
		acceptedAt, err := json.Marshal(accepted)
		if err != nil {
			return nil, err
		}
		tail = append(tail, `,"accepted_at":`...)
		tail = append(tail, acceptedAt...)
	}
	tail = append(tail, `,"event":`...)
	tail = append(tail, evJSON...)
	tail = append(tail, '}')
	return &deliveryEncoder{topic: topic, ev: ev, tail: tail}, nil
}

// record returns the delivery record of the event to subscriptionID.
func (e *deliveryEncoder) record(subscriptionID string) *kgo.Record {
	id := record.DeliveryID(e.ev.Source, e.ev.ID, subscriptionID)
	subJSON, _ := json.Marshal(subscriptionID) // a string always encodes
	v := make([]byte, 0, len(e.tail)+len(id)+len(subJSON)+48)
	v = append(v, `{"v":`...)
	v = append(v, version...)
	v = append(v, `,"id":"`...) // delivery ids are hex: nothing to escape
	v = append(v, id...)
	v = append(v, `","subscription_id":`...)
	v = append(v, subJSON...)
	v = append(v, e.tail...)
	return &kgo.Record{Topic: e.topic, Key: []byte(subscriptionID), Value: v, Headers: []kgo.RecordHeader{
		{Key: header.Version, Value: version},
		{Key: header.Kind, Value: []byte(header.KindDelivery)},
		{Key: header.DeliveryID, Value: []byte(id)},
		{Key: header.SubscriptionID, Value: []byte(subscriptionID)},
		{Key: header.EventID, Value: []byte(e.ev.ID)},
		{Key: header.EventType, Value: []byte(e.ev.Type)},
		{Key: header.Attempt, Value: []byte(attemptZero)},
	}}
}
