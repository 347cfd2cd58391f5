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
		Name       string            `json:"name"`
		Status     string            `json:"status"`
		Partitions int               `json:"partitions"`
		Configs    map[string]string `json:"configs"`
		Drift      []string          `json:"drift"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// Every topic of the spec: subscriptions, deliveries, 2 retry, dlq,
	// attempts, events, and whatever the spec adds.
	if want := len(names.Specs(topic.SpecOpts{RetryLevels: 2, Sources: []string{prefix + "events"}})); len(rows) != want {
		t.Fatalf("got %d topics: %s", len(rows), out)
	}
	for _, r := range rows {
		if r.Status != "created" || len(r.Drift) != 0 {
			t.Fatalf("%s on the first run: %+v", r.Name, r)
		}
		if r.Name == names.DLQ() && (r.Partitions != 3 || r.Configs["retention.ms"] != "1209600000") {
			t.Fatalf("dlq as the cluster has it: %+v", r)
		}
	}
	out, err = run(t, env, args[:len(args)-2]...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "created") || !strings.Contains(out, names.Deliveries()) {
		t.Fatalf("second run should find every topic existing:\n%s", out)
	}

	// Asking for more partitions and another retention changes nothing
	// and reports the drift, with the real partitions.
	var errOut bytes.Buffer
	out2 := &bytes.Buffer{}
	args2 := []string{"topics", "init", "--topic-prefix", prefix, "--partitions", "4", "--retry-levels", "2", "--source", prefix + "events",
		"--dlq-retention", "48h", "-o", "json"}
	if err := cli.Run(t.Context(), args2, func(k string) string { return env[k] }, out2, &errOut); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out2.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		switch r.Name {
		case names.Deliveries():
			if r.Partitions != 2 || len(r.Drift) != 1 || !strings.Contains(r.Drift[0], "has 2, init asks for 4") {
				t.Errorf("deliveries: %+v", r)
			}
		case names.DLQ():
			if len(r.Drift) != 1 || !strings.Contains(r.Drift[0], "retention.ms: has 1209600000, init asks for 172800000") {
				t.Errorf("dlq: %+v", r)
			}
		case names.Subscriptions():
			if len(r.Drift) != 0 {
				t.Errorf("subscriptions: %+v", r)
			}
		}
	}
	if !strings.Contains(errOut.String(), "drift: "+names.Deliveries()) {
		t.Errorf("stderr does not report drift:\n%s", errOut.String())
	}

	out, err = run(t, env, "topics", "ls", "--topic-prefix", prefix)
	if err != nil || !strings.Contains(out, names.DLQ()) || !strings.Contains(out, "retention.ms=1209600000") {
		t.Fatalf("topics ls: %v\n%s", err, out)
	}
	var described []struct {
		Name             string `json:"name"`
		Partitions       int    `json:"partitions"`
		PartitionDetails []struct {
			Partition int32   `json:"partition"`
			Replicas  []int32 `json:"replicas"`
		} `json:"partition_details"`
	}
	out, err = run(t, env, "topics", "describe", "deliveries", "--topic-prefix", prefix, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &described); err != nil || len(described) != 1 || described[0].Partitions != 2 ||
		len(described[0].PartitionDetails) != 2 || len(described[0].PartitionDetails[1].Replicas) != 1 {
		t.Fatalf("topics describe: %v\n%s", err, out)
	}
	if _, err := run(t, env, "topics", "describe", "nope", "--topic-prefix", prefix); cli.ExitCode(err) != cli.ExitNotFound {
		t.Fatalf("describe of a missing topic: %v", err)
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
