package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hookline/hookline/platform/typetable"
	"github.com/hookline/hookline/schemas/record"
	"github.com/hookline/hookline/schemas/registry"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func typesCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "types",
		Short: "Manage the event-type catalogue (the compacted event-types topic)",
		Long: "Event types live in the compacted event-types topic, keyed by name. The router\n" +
			"and the producer API validate events against it: a type's JSON Schema applies\n" +
			"to the data of a CloudEvent and to the whole object of a plain JSON event.\n" +
			"Types not in the catalogue are accepted unless --reject-unknown-types.",
	}
	cmd.AddCommand(typesLsCmd(o), typesGetCmd(o), typesAddCmd(o), typesRmCmd(o))
	return cmd
}

// typeStore reads a snapshot of the event-types topic and writes to it.
type typeStore struct {
	o     *options
	cl    *kgo.Client
	table *typetable.Table
	stop  func()
}

// openTypes reads the event-types topic up to its current end. Close the
// store when done.
func (o *options) openTypes(ctx context.Context) (*typeStore, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cl, err := o.client(kgo.RecordDeliveryTimeout(o.timeout))
	if err != nil {
		return nil, err
	}
	topic := o.names().EventTypes()
	if _, err := snapshot(ctx, kadm.NewClient(cl), topic); err != nil {
		cl.Close()
		return nil, err
	}
	opts, err := o.kafka.Opts()
	if err != nil {
		cl.Close()
		return nil, err
	}
	table := typetable.New(opts, topic)
	runCtx, stopRun := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = table.Run(runCtx) })
	s := &typeStore{o: o, cl: cl, table: table, stop: func() { stopRun(); wg.Wait() }}
	if err := table.WaitReady(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("reading %s: %w", topic, err)
	}
	return s, nil
}

// Close stops reading and closes the client.
func (s *typeStore) Close() {
	s.stop()
	s.cl.Close()
}

func (s *typeStore) get(name string) (record.EventType, error) {
	et, ok := s.table.Get(name)
	if !ok {
		return record.EventType{}, fmt.Errorf("event type %q: %w", name, ErrNotFound)
	}
	return et, nil
}

// put writes et as the next revision of what the table holds, after
// checking it as the API does.
func (s *typeStore) put(ctx context.Context, et *record.EventType) error {
	now := time.Now().UTC()
	if cur, ok := s.table.Get(et.Name); ok {
		et.CreatedAt, et.Revision = cur.CreatedAt, cur.Revision+1
	} else {
		et.CreatedAt, et.Revision = now, 1
	}
	et.UpdatedAt = now
	if err := checkEventType(et); err != nil {
		return usagef("%w", err)
	}
	rec, err := et.Record(s.o.names().EventTypes())
	if err != nil {
		return err
	}
	return s.produce(ctx, rec)
}

func (s *typeStore) produce(ctx context.Context, rec *kgo.Record) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.timeout)
	defer cancel()
	if err := s.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("writing to %s: %w", rec.Topic, err)
	}
	return nil
}

// checkEventType checks et as the producer API does: its fields, that its
// schema compiles, and that its example satisfies it.
func checkEventType(et *record.EventType) error {
	if err := et.Validate(); err != nil {
		return err
	}
	return registry.Check(et.Name, et.Schema, et.Example)
}

func typesLsCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List event types",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := o.openTypes(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			all := s.table.All()
			if o.structured() {
				out := make([]record.EventType, 0, len(all))
				for _, et := range all {
					out = append(out, *et)
				}
				return o.printJSON(out)
			}
			tw := o.table()
			fmt.Fprintln(tw, "NAME\tSCHEMA\tDEPRECATED\tVERSION\tUPDATED\tDESCRIPTION")
			for _, et := range all {
				schema := "-"
				if len(et.Schema) > 0 {
					schema = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%s\t%s\n", et.Name, schema, et.Deprecated, et.Revision,
					et.UpdatedAt.Format(time.RFC3339), orDash(shorten(et.Description, 60)))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(o.stderr, "%d event types\n", len(all))
			return nil
		},
	}
}

func typesGetCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show one event type with its schema and example",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.openTypes(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			et, err := s.get(args[0])
			if err != nil {
				return err
			}
			if o.structured() {
				return o.printJSON(et)
			}
			tw := o.table()
			fmt.Fprintf(tw, "NAME\t%s\nDESCRIPTION\t%s\nDEPRECATED\t%v\nVERSION\t%d\nCREATED\t%s\nUPDATED\t%s\n",
				et.Name, orDash(et.Description), et.Deprecated, et.Revision, et.CreatedAt.Format(time.RFC3339), et.UpdatedAt.Format(time.RFC3339))
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, part := range []struct {
				name string
				doc  []byte
			}{{"SCHEMA", et.Schema}, {"EXAMPLE", et.Example}} {
				if len(part.doc) > 0 {
					fmt.Fprintf(o.stdout, "%s\n%s\n", part.name, part.doc)
				}
			}
			return nil
		},
	}
}

func typesAddCmd(o *options) *cobra.Command {
	var (
		schemaFile, exampleFile, description, example string
		deprecated                                    bool
	)
	cmd := &cobra.Command{
		Use:   "add [NAME]",
		Short: "Register or replace an event type (--schema FILE), or a built-in example (--example NAME)",
		Long: "add registers an event type, or replaces it, keeping its creation time. The\n" +
			"schema (--schema FILE, a JSON Schema, draft 2020-12 unless its $schema says\n" +
			"otherwise) is compiled first, and the example (--example-file) must satisfy it.\n" +
			"--example NAME registers one of the built-in examples instead: " + exampleNames() + ".",
		Example: "  hookctl types add order.created --schema order.created.json --description 'An order was placed'\n" +
			"  hookctl types add --example payment_success",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var et record.EventType
			switch {
			case example != "":
				ex, ok := registry.LookupExample(example)
				if !ok {
					return usagef("--example %q: no such example; there are %s", example, exampleNames())
				}
				if len(args) == 1 && args[0] != ex.Name {
					return usagef("--example %s registers the type %s; leave NAME out", ex.Name, ex.Name)
				}
				et = record.EventType{Name: ex.Name, Description: ex.Description, Schema: ex.Schema, Example: ex.Data}
			case len(args) == 1:
				et.Name = args[0]
			default:
				return usagef("give a NAME, or --example NAME")
			}
			if description != "" {
				et.Description = description
			}
			et.Deprecated = deprecated
			for _, f := range []struct {
				path string
				dst  *[]byte
			}{{schemaFile, (*[]byte)(&et.Schema)}, {exampleFile, (*[]byte)(&et.Example)}} {
				if f.path == "" {
					continue
				}
				b, err := os.ReadFile(f.path)
				if err != nil {
					return usagef("%w", err)
				}
				*f.dst = []byte(strings.TrimSpace(string(b)))
			}
			s, err := o.openTypes(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.put(cmd.Context(), &et); err != nil {
				return err
			}
			if o.structured() {
				return o.printJSON(et)
			}
			fmt.Fprintf(o.stdout, "registered event type %s (version %d)\n", et.Name, et.Revision)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&schemaFile, "schema", "", "file holding the JSON Schema of the event data")
	f.StringVar(&exampleFile, "example-file", "", "file holding an example of the event data")
	f.StringVar(&example, "example", "", "register a built-in example type: "+exampleNames())
	f.StringVar(&description, "description", "", "what the event means")
	f.BoolVar(&deprecated, "deprecated", false, "mark the type deprecated")
	return cmd
}

func exampleNames() string {
	exs, err := registry.Examples()
	if err != nil {
		return "(none)"
	}
	names := make([]string, len(exs))
	for i, e := range exs {
		names[i] = e.Name
	}
	return strings.Join(names, ", ")
}

func typesRmCmd(o *options) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "rm NAME",
		Short: "Delete an event type (writes a tombstone); asks first unless --yes",
		Long: "rm removes an event type from the catalogue. Its events are then unknown: still\n" +
			"routed, unvalidated, unless the router and the API run with --reject-unknown-types.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.openTypes(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			if _, err := s.get(args[0]); err != nil {
				return err
			}
			if !yes {
				if err := o.confirm(fmt.Sprintf("Delete event type %s?", args[0])); err != nil {
					return err
				}
			}
			if err := s.produce(cmd.Context(), record.Tombstone(o.names().EventTypes(), args[0])); err != nil {
				return err
			}
			if o.structured() {
				return o.printJSON(map[string]any{"name": args[0], "deleted": true})
			}
			fmt.Fprintf(o.stdout, "deleted event type %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// registerExamples writes the built-in example types that the catalogue
// does not have yet, so a developer's own changes survive a restart of
// hookctl dev. It returns the names written.
func (o *options) registerExamples(ctx context.Context) ([]string, error) {
	s, err := o.openTypes(ctx)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	exs, err := registry.Examples()
	if err != nil {
		return nil, err
	}
	var added []string
	for _, ex := range exs {
		if _, ok := s.table.Get(ex.Name); ok {
			continue
		}
		et := record.EventType{Name: ex.Name, Description: ex.Description, Schema: ex.Schema, Example: ex.Data}
		if err := s.put(ctx, &et); err != nil {
			return added, fmt.Errorf("registering example %s: %w", ex.Name, err)
		}
		added = append(added, ex.Name)
	}
	return added, nil
}
