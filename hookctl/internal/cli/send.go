package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// sent is what send prints.
type sent struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

func sendCmd(o *options) *cobra.Command {
	var (
		topic, data, key string
		plain            bool
		ev               event.Event
	)
	cmd := &cobra.Command{
		Use:   "send --type TYPE --data JSON",
		Short: "Produce one event to a source topic and print its id",
		Long: "send produces one event to a source topic, as a binary-mode CloudEvent\n" +
			"(ce_* headers, data as the value) or, with --plain, the JSON of --data as\n" +
			"it is (it must have a top-level \"type\", as in the seed's payment_success).\n" +
			"The event is checked against the event-type catalogue first, as the API and\n" +
			"the router check it: a type's schema applies to the CloudEvent's data, or to\n" +
			"the whole plain JSON object. A type not in the catalogue is sent with a warning.",
		Example: "  hookctl send --type payment_success --data '{\"amount\":7,\"customer\":\"carol\"}'\n" +
			"  hookctl send --plain --data '{\"type\":\"payment_success\",\"amount\":49.99,\"customer\":\"jane@example.com\"}'",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !json.Valid([]byte(data)) {
				return fmt.Errorf("--data is not JSON: %q", shorten(data, 80))
			}
			var rec *kgo.Record
			if plain {
				for _, f := range []string{"type", "source", "subject", "id"} {
					if cmd.Flags().Changed(f) {
						return fmt.Errorf("--%s does not go with --plain: the event is --data as given", f)
					}
				}
				rec = &kgo.Record{Topic: topic, Value: []byte(data)}
				if key != "" {
					rec.Key = []byte(key)
				}
				// Check it as the router will read it.
				if _, err := event.Decode(rec, 0); err != nil {
					return fmt.Errorf("--data is not a plain JSON event: %w", err)
				}
			} else {
				if ev.Type == "" {
					return errors.New("--type is required (or --plain with a \"type\" in --data)")
				}
				if ev.ID == "" {
					ev.ID = newEventID()
				}
				ev.SpecVersion, ev.Time = event.SpecVersion, time.Now().UTC()
				ev.DataContentType, ev.Data = event.ContentTypeJSON, []byte(data)
				if err := ev.Validate(event.ModeBinary); err != nil {
					return err
				}
				k := key
				if k == "" {
					k = ev.Subject
				}
				var kb []byte
				if k != "" {
					kb = []byte(k)
				}
				rec = event.BinaryRecord(topic, kb, &ev)
			}
			if err := o.checkAgainstCatalogue(cmd.Context(), rec); err != nil {
				return err
			}
			cl, err := o.client(kgo.RecordDeliveryTimeout(o.timeout))
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
				return fmt.Errorf("producing to %s: %w", topic, err)
			}
			// A plain event without an id gets one from its coordinates,
			// exactly as the router derives it.
			got, err := event.Decode(rec, 0)
			if err != nil {
				return err
			}
			out := sent{ID: got.ID, Type: got.Type, Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset}
			if o.structured() {
				return o.printJSON(out)
			}
			fmt.Fprintln(o.stdout, out.ID)
			fmt.Fprintf(o.stderr, "sent %s to %s/%d/%d\n", out.Type, out.Topic, out.Partition, out.Offset)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "events", "source topic to produce to (not prefixed)")
	f.StringVar(&ev.Type, "type", "", "event type, such as payment.succeeded")
	f.StringVar(&data, "data", "{}", "event data, JSON")
	f.StringVar(&ev.Source, "source", "urn:hookline:hookctl", "event source (a URI reference)")
	f.StringVar(&ev.Subject, "subject", "", "event subject (also the partition key when --key is not set)")
	f.StringVar(&ev.ID, "id", "", "event id (default: a fresh evt_… id)")
	f.StringVar(&key, "key", "", "Kafka record key (partition key)")
	f.BoolVar(&plain, "plain", false, "produce --data as a plain JSON event instead of a CloudEvent")
	return cmd
}

// checkAgainstCatalogue validates rec's event as the router will: against
// its type's schema in the catalogue. An unknown type is only a warning.
func (o *options) checkAgainstCatalogue(ctx context.Context, rec *kgo.Record) error {
	ev, err := event.Decode(rec, 0)
	if err != nil {
		return err
	}
	s, err := o.openTypes(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	cat := registry.NewCatalogue()
	for _, et := range s.table.All() {
		_ = cat.Put(et.Name, et.Schema) // a schema that does not compile fails Validate below
	}
	err = cat.Validate(ev.Type, 0, ev.Data)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, registry.ErrUnknownType):
		fmt.Fprintf(o.stderr, "warning: event type %q is not in the catalogue (hookctl types ls); a router with --reject-unknown-types dead-letters it\n", ev.Type)
		return nil
	}
	return fmt.Errorf("the event does not satisfy the schema of %s, nothing was sent: %w", ev.Type, err)
}

func newEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}
