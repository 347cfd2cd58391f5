package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hookline/hookline/schemas/event"
	"github.com/hookline/hookline/schemas/header"
	"github.com/hookline/hookline/schemas/record"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// shortTopic matches the Hookline topic names tail resolves under the
// prefix.
var shortTopic = regexp.MustCompile(`^(subscriptions|deliveries|dlq|attempts|retry\.[0-9]+)$`)

// tailed is one record as tail prints it in JSON, one object per line.
type tailed struct {
	Topic       string            `json:"topic"`
	Partition   int32             `json:"partition"`
	Offset      int64             `json:"offset"`
	Timestamp   time.Time         `json:"timestamp"`
	Key         string            `json:"key,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Kind        string            `json:"kind"` // a Hookline record kind, "event", "tombstone" or "raw"
	Value       json.RawMessage   `json:"value,omitempty"`
	DecodeError string            `json:"decode_error,omitempty"`
}

func tailCmd(o *options) *cobra.Command {
	var (
		fromStart bool
		limit     int
	)
	cmd := &cobra.Command{
		Use:   "tail TOPIC",
		Short: "Print the records of a topic as they arrive",
		Long: "tail prints new records of a topic (all of them with --from-beginning),\n" +
			"decoding Hookline's records and CloudEvents; subscription secrets are\n" +
			"redacted. Short names (subscriptions, deliveries, retry.N, dlq, attempts)\n" +
			"resolve under --topic-prefix; other names are used as given. It runs until\n" +
			"--limit records or Ctrl-C. -o json prints one JSON object per line.",
		Example: "  hookctl tail dlq\n  hookctl tail events --from-beginning --limit 10 -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit must not be negative")
			}
			topic := args[0]
			if shortTopic.MatchString(topic) {
				topic = o.prefix + topic
			}
			reset := kgo.NewOffset().AtEnd()
			if fromStart {
				reset = kgo.NewOffset().AtStart()
			}
			cl, err := o.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(reset),
				kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			if err != nil {
				return err
			}
			defer cl.Close()
			sctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			_, err = snapshot(sctx, kadm.NewClient(cl), topic)
			cancel()
			if cmd.Context().Err() != nil {
				return nil // Ctrl-C is how tail ends
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(o.stderr, "tailing %s (Ctrl-C stops)\n", topic)
			n := 0
			for {
				fetches := cl.PollFetches(cmd.Context())
				if cmd.Context().Err() != nil {
					return nil // Ctrl-C is how tail ends
				}
				var ferr error
				fetches.EachError(func(t string, p int32, err error) {
					if ferr == nil {
						ferr = fmt.Errorf("reading %s partition %d: %w", t, p, err)
					}
				})
				if ferr != nil {
					return ferr
				}
				for it := fetches.RecordIter(); !it.Done(); {
					if err := o.printTailed(decodeTailed(it.Next(), o.names().Subscriptions())); err != nil {
						return err
					}
					if n++; limit > 0 && n >= limit {
						return nil
					}
				}
			}
		},
	}
	cmd.Flags().BoolVar(&fromStart, "from-beginning", false, "start at the oldest record instead of the end")
	cmd.Flags().IntVar(&limit, "limit", 0, "stop after this many records (0: run until Ctrl-C)")
	return cmd
}

// decodeTailed decodes r by its hookline-kind header, by topic for the
// subscriptions topic, and as an event otherwise.
func decodeTailed(r *kgo.Record, subsTopic string) tailed {
	t := tailed{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UTC(),
		Key: text(r.Key), Headers: headerMap(r)}
	kind := record.HeaderValue(r, header.Kind)
	if kind == "" && r.Topic == subsTopic {
		kind = header.KindSubscription
	}
	var (
		v   any
		err error
	)
	switch kind {
	case header.KindSubscription:
		if r.Value == nil {
			t.Kind = "tombstone"
			return t
		}
		var s record.Subscription
		if s, err = record.DecodeSubscription(r.Value); err == nil {
			v = s.Redacted()
		}
	case header.KindDelivery:
		v, err = record.DecodeDelivery(r.Value)
	case header.KindDeadLetter:
		v, err = record.DecodeDeadLetter(r.Value)
	case header.KindAttempt:
		v, err = record.DecodeAttempt(r.Value)
	default:
		kind = "event"
		var e event.Event
		if e, err = event.Decode(r, 0); err == nil {
			v = e
		}
	}
	t.Kind = kind
	if err == nil {
		t.Value, err = json.Marshal(v)
	}
	if err != nil {
		if kind == "event" {
			t.Kind = "raw"
		}
		t.DecodeError = err.Error()
		t.Value = rawJSON(r.Value)
	}
	return t
}

// rawJSON is b itself when it is JSON, else b as a JSON string.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(text(b))
	return s
}

func (o *options) printTailed(t tailed) error {
	if o.output == outputYAML {
		// A stream of YAML documents, one per record.
		if _, err := fmt.Fprintln(o.stdout, "---"); err != nil {
			return err
		}
		return printYAML(o.stdout, t)
	}
	if o.structured() {
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.stdout, "%s\n", b)
		return err
	}
	fmt.Fprintf(o.stdout, "%s/%d/%d  %s  key=%s  %s\n", t.Topic, t.Partition, t.Offset,
		t.Timestamp.Format(time.RFC3339Nano), orDash(t.Key), t.Kind)
	var hs []string
	for k, v := range t.Headers {
		if strings.HasPrefix(k, "hookline-") {
			hs = append(hs, k+"="+v)
		}
	}
	if len(hs) > 0 {
		slices.Sort(hs)
		fmt.Fprintf(o.stdout, "  %s\n", strings.Join(hs, "  "))
	}
	if t.DecodeError != "" {
		fmt.Fprintf(o.stdout, "  decode error: %s\n", t.DecodeError)
	}
	if len(t.Value) > 0 {
		fmt.Fprintf(o.stdout, "  %s\n", t.Value)
	}
	return nil
}
