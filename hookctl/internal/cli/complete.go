package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/hookline/hookline/schemas/record"
	"github.com/spf13/cobra"
)

// reasons are the dead-letter reasons --reason completes.
var reasons = []string{
	record.ReasonExhausted, record.ReasonEndpointGone, record.ReasonRejected, record.ReasonEndpointDisabled,
	record.ReasonSubscriptionDeleted, record.ReasonRefused, record.ReasonFilterError, record.ReasonNoSigningSecret,
	record.ReasonInvalidEvent, record.ReasonSchemaViolation, record.ReasonUnknownType, record.ReasonTooLarge,
	record.ReasonInvalidRecord, reasonUndecodable,
}

// completeSubs completes subscription ids, read from Kafka with a short
// deadline so a shell never hangs on an unreachable cluster.
func completeSubs(o *options) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		subs := o.completionSubs(cmd)
		var out []cobra.Completion
		for _, s := range subs {
			if strings.HasPrefix(s.ID, toComplete) {
				out = append(out, cobra.CompletionWithDesc(s.ID, s.State+" "+strings.Join(s.EventTypes, ",")))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeSubArg completes the one ID argument of subs get, rm, pause….
func completeSubArg(o *options) cobra.CompletionFunc {
	subs := completeSubs(o)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return subs(cmd, args, toComplete)
	}
}

// completeTypes completes event types: the names in the event-type
// catalogue (described), then the types and patterns the subscriptions
// name.
func completeTypes(o *options) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		seen := map[string]bool{}
		for _, et := range o.completionTypes(cmd) {
			if strings.HasPrefix(et.Name, toComplete) && !seen[et.Name] {
				seen[et.Name] = true
				out = append(out, cobra.CompletionWithDesc(et.Name, shorten(et.Description, 60)))
			}
		}
		var patterns []string
		for _, s := range o.completionSubs(cmd) {
			for _, t := range s.EventTypes {
				if strings.HasPrefix(t, toComplete) && !seen[t] {
					seen[t] = true
					patterns = append(patterns, t)
				}
			}
		}
		slices.Sort(patterns)
		return append(out, patterns...), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeTypeArg completes the one NAME argument of types get and rm
// from the catalogue.
func completeTypeArg(o *options) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, et := range o.completionTypes(cmd) {
			if strings.HasPrefix(et.Name, toComplete) {
				out = append(out, cobra.CompletionWithDesc(et.Name, shorten(et.Description, 60)))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completionTypes reads the event-type catalogue for a completion, with
// the same short deadline as completionSubs; nil if it cannot.
func (o *options) completionTypes(cmd *cobra.Command) []*record.EventType {
	if err := applyEnv(cmd.Root(), o.getenv); err != nil {
		return nil
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	saved := o.timeout
	o.timeout = 2 * time.Second
	defer func() { o.timeout = saved }()
	s, err := o.openTypes(ctx)
	if err != nil {
		return nil
	}
	defer s.Close()
	return s.table.All()
}

// completionSubs reads the subscriptions for a completion. Completions run
// no PersistentPreRunE, so the environment is applied here.
func (o *options) completionSubs(cmd *cobra.Command) []*record.Subscription {
	if err := applyEnv(cmd.Root(), o.getenv); err != nil {
		return nil
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	saved := o.timeout
	o.timeout = 2 * time.Second
	defer func() { o.timeout = saved }()
	s, err := o.openSubs(ctx)
	if err != nil {
		return nil
	}
	defer s.Close()
	return s.table.All()
}

// registerCompletions wires dynamic completion into the commands of root.
func registerCompletions(o *options, root *cobra.Command) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		fs := c.Flags()
		if fs.Lookup("subscription") != nil {
			_ = c.RegisterFlagCompletionFunc("subscription", completeSubs(o))
		}
		if fs.Lookup("type") != nil {
			_ = c.RegisterFlagCompletionFunc("type", completeTypes(o))
		}
		if fs.Lookup("types") != nil && c.Parent() != nil && c.Parent().Name() == "subs" {
			_ = c.RegisterFlagCompletionFunc("types", completeTypes(o))
		}
		if fs.Lookup("stage") != nil {
			_ = c.RegisterFlagCompletionFunc("stage", cobra.FixedCompletions([]string{record.StageRoute, record.StageDispatch}, cobra.ShellCompDirectiveNoFileComp))
		}
		if fs.Lookup("result") != nil && c.Name() == "attempts" {
			_ = c.RegisterFlagCompletionFunc("result", cobra.FixedCompletions([]string{"success", "retry", "failed"}, cobra.ShellCompDirectiveNoFileComp))
		}
		if c.Parent() != nil && c.Parent().Name() == "types" && strings.HasSuffix(c.Use, " NAME") {
			c.ValidArgsFunction = completeTypeArg(o)
		}
		if fs.Lookup("reason") != nil && c.Parent() != nil && c.Parent().Name() == "dlq" {
			_ = c.RegisterFlagCompletionFunc("reason", cobra.FixedCompletions(reasons, cobra.ShellCompDirectiveNoFileComp))
		}
		if c.Parent() != nil && c.Parent().Name() == "subs" && strings.HasSuffix(c.Use, " ID") {
			c.ValidArgsFunction = completeSubArg(o)
		}
	}
	walk(root)
}
