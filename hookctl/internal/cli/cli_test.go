package cli_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookline/hookline/hookctl/internal/cli"
	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/schemas/topic"
)

func run(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cli.Run(t.Context(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), err
}

func TestTopicsInitIsIdempotent(t *testing.T) {
	c := kafkatest.New(t)
	prefix := kafkatest.Name(t, "hl") + "."
	env := map[string]string{"HOOKLINE_BROKERS": strings.Join(c.Brokers, ",")}
	names := topic.New(prefix)
	t.Cleanup(func() {
		// Delete what init created on a shared broker.
		specs := names.Specs(topic.SpecOpts{RetryLevels: 2, Sources: []string{prefix + "events"}})
		var all []string
		for _, s := range specs {
			all = append(all, s.Name)
		}
		_, _ = c.Admin(t).DeleteTopics(t.Context(), all...)
	})
	args := []string{"topics", "init", "--topic-prefix", prefix, "--partitions", "2", "--retry-levels", "2", "--source", prefix + "events", "-o", "json"}
	out, err := run(t, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Name    string `json:"name"`
		Created bool   `json:"created"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// subscriptions, deliveries, 2 retry, dlq, attempts, events
	if len(rows) != 7 {
		t.Fatalf("got %d topics: %s", len(rows), out)
	}
	for _, r := range rows {
		if !r.Created {
			t.Fatalf("%s not created on first run", r.Name)
		}
	}
	out, err = run(t, env, args[:len(args)-2]...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "created") || !strings.Contains(out, names.Deliveries()) {
		t.Fatalf("second run should find every topic existing:\n%s", out)
	}
}

func TestBadFlagsAreClearErrors(t *testing.T) {
	if _, err := run(t, nil, "topics", "init", "-o", "xml"); err == nil || !strings.Contains(err.Error(), "unknown output") {
		t.Fatalf("err = %v", err)
	}
	if _, err := run(t, map[string]string{"HOOKLINE_BROKERS": "nohostport"}, "topics", "init"); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Fatalf("err = %v", err)
	}
}

func TestHelp(t *testing.T) {
	out, err := run(t, nil, "--help")
	if err != nil || !strings.Contains(out, "topics") {
		t.Fatalf("help: %v\n%s", err, out)
	}
}
