package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	dispatcher "github.com/hookline/hookline/dispatcher/app"
	"github.com/hookline/hookline/platform/lifecycle"
	"github.com/hookline/hookline/platform/logging"
	producer "github.com/hookline/hookline/producer/app"
	router "github.com/hookline/hookline/router/app"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
)

// devOptions are the flags of hookctl dev.
type devOptions struct {
	kafkaAddr  string
	dataDir    string
	ephemeral  bool
	external   bool
	apiAddr    string
	apiKey     string
	ingestKey  string
	opsPort    int
	allowCIDRs string
	partitions int32
	logLevel   string
}

func devCmd(o *options) *cobra.Command {
	var d devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole pipeline in one process on an embedded Kafka",
		Long: `dev runs a complete Hookline for development in one process: an embedded
Kafka (franz-go's kfake, persisted under --data-dir), every Hookline topic,
the example event types (hookctl types ls), the producer API with an admin
and an ingest key and its web console (/console/), a router and a
dispatcher. Stop it with Ctrl-C. A port it
needs that is taken fails at once, naming the port.

With --external it uses the Kafka at --brokers instead of an embedded one.

The dispatcher's SSRF guard allows --allow-cidrs (default 127.0.0.0/8) so
webhooks can reach receivers on this machine; production keeps it empty.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDev(cmd.Context(), o, &d) },
	}
	f := cmd.Flags()
	f.StringVar(&d.kafkaAddr, "kafka-addr", "127.0.0.1:9092", "listen address of the embedded Kafka (loopback only)")
	f.StringVar(&d.dataDir, "data-dir", defaultDataDir(), "where the embedded Kafka keeps its data between runs")
	f.BoolVar(&d.ephemeral, "ephemeral", false, "keep the embedded Kafka's data in memory only")
	f.BoolVar(&d.external, "external", false, "use the Kafka at --brokers instead of an embedded one")
	f.StringVar(&d.apiAddr, "api-addr", "127.0.0.1:8080", "listen address of the producer API")
	f.StringVar(&d.apiKey, "api-key", "", "admin API key of the producer API (default: a random key, printed at start)")
	f.StringVar(&d.ingestKey, "ingest-api-key", "", "ingest-only API key of the producer API (default: a random key, printed at start)")
	f.IntVar(&d.opsPort, "ops-port", 9101, "first of three ports for the ops servers (producer, router, dispatcher); 0 picks free ports")
	f.StringVar(&d.allowCIDRs, "allow-cidrs", "127.0.0.0/8", "CIDRs the dispatcher may deliver to despite the SSRF guard")
	f.Int32Var(&d.partitions, "partitions", 3, "partitions of the deliveries, retry and source topics")
	f.StringVar(&d.logLevel, "log-level", "info", "log level of the components")
	return cmd
}

func defaultDataDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "hookline", "dev-kafka")
	}
	return filepath.Join(os.TempDir(), "hookline-dev-kafka")
}

func runDev(ctx context.Context, o *options, d *devOptions) error {
	// Ports first: a port in use fails here, naming it, before anything
	// starts or any key is printed.
	if err := checkPorts(d); err != nil {
		return err
	}
	key, err := devKey(d.apiKey, "dev_")
	if err != nil {
		return err
	}
	ingestKey, err := devKey(d.ingestKey, "dev_ingest_")
	if err != nil {
		return err
	}
	if key == ingestKey {
		return usagef("--api-key and --ingest-api-key must differ")
	}
	brokers := strings.Join(o.kafka.Brokers, ",")
	var g lifecycle.Group
	var cluster *kfake.Cluster
	if !d.external {
		var err error
		if cluster, err = startEmbeddedKafka(d); err != nil {
			return err
		}
		brokers = cluster.ListenAddrs()[0]
		o.kafka.Brokers = []string{brokers}
		g.Add("kafka", func(ctx context.Context) error {
			<-ctx.Done()
			cluster.Close()
			return nil
		})
	}
	if err := devTopics(ctx, o, d); err != nil {
		if cluster != nil {
			cluster.Close()
		}
		return err
	}
	// The built-in example types (the seed's payment_success and the four
	// applications), unless the catalogue has them already: a developer's
	// own version of one survives a restart.
	added, err := o.registerExamples(ctx)
	if err != nil {
		if cluster != nil {
			cluster.Close()
		}
		return fmt.Errorf("registering the example event types: %w", err)
	}
	if len(added) > 0 {
		fmt.Fprintf(o.stderr, "registered example event types: %s\n", strings.Join(added, ", "))
	}
	ops := func(i int) string {
		if d.opsPort == 0 {
			return "127.0.0.1:0"
		}
		return "127.0.0.1:" + strconv.Itoa(d.opsPort+i)
	}
	common := []string{"--brokers", brokers, "--topic-prefix", o.prefix, "--log-level", d.logLevel, "--log-format", "console"}
	// Each component is its binary's own Run, given explicit flags; flags
	// win over HOOKLINE_* variables, so a developer's environment cannot
	// make two of them collide.
	args := func(extra ...string) []string { return append(append([]string{}, common...), extra...) }
	run := func(name string, fn func(context.Context, []string, func(string) string, io.Writer, io.Writer) error, a []string, opts ...lifecycle.Option) {
		g.Add(name, func(ctx context.Context) error { return fn(ctx, a, o.getenv, o.stderr, o.stderr) }, opts...)
	}
	// Each component rides out Kafka outages by itself. One that still
	// fails is restarted in place with backoff when a restart can help;
	// otherwise (a port in use, a fenced router, a refused configuration,
	// or restarts that keep failing) the whole stack stops and dev exits
	// non-zero with the cause: never an API up in front of a dead pipeline.
	run("producer", producer.Run, args("--addr", d.apiAddr, "--admin-addr", ops(0), "--api-keys", key, "--ingest-api-keys", ingestKey,
		"--source-topic", topic.DefaultSource))
	run("router", router.Run, args("--admin-addr", ops(1), "--source-topics", topic.DefaultSource, "--transactional-id", "hookline-router-dev"),
		lifecycle.Restart(router.Transient))
	// --memory-limit -1: the dispatcher's soft limit would be the whole
	// process's, broker and all.
	run("dispatcher", dispatcher.Run, args("--admin-addr", ops(2), "--allow-cidrs", d.allowCIDRs, "--memory-limit", "-1"),
		lifecycle.Restart(func(error) bool { return true }))
	log, err := logging.NewTo(logging.Config{Format: "console", Level: d.logLevel}, o.stderr)
	if err != nil {
		return err
	}
	log = log.Named("dev")

	// The banner goes out once the API accepts connections, so the curl
	// commands it shows work as soon as they are printed.
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx, log) }()
	if waitListening(ctx, d.apiAddr, errc) {
		fmt.Fprintf(o.stdout, `Hookline dev stack
  kafka      %s%s
  api        http://%s
  console    http://%s/console/   (sign in with the admin key)
  admin key  %s   (every route)
  ingest key %s   (POST /v1/events only)
  ops        /metrics /healthz /readyz on %s, %s, %s
  ssrf guard allows %s

Try the seed's payment example (a receiver on 127.0.0.1:3000/webhook):
  curl -s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
    -d '{"url":"http://127.0.0.1:3000/webhook","event_types":["payment_success"],"format":"raw"}' \
    http://%s/v1/subscriptions
  curl -s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \
    -d '{"type":"payment_success","amount":49.99,"customer":"alice@example.com"}' \
    http://%s/v1/events
Ctrl-C stops everything.
`, brokers, embeddedNote(d), d.apiAddr, d.apiAddr, key, ingestKey, ops(0), ops(1), ops(2), d.allowCIDRs, key, d.apiAddr, ingestKey, d.apiAddr)
	}
	return <-errc
}

// devKey returns key, or a random key with prefix when key is empty.
func devKey(key, prefix string) (string, error) {
	if key != "" {
		return key, nil
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b), nil
}

// checkPorts fails when a port dev needs is taken, naming the port and the
// flag that sets it.
func checkPorts(d *devOptions) error {
	type need struct{ flag, addr string }
	needs := []need{{"--api-addr", d.apiAddr}}
	if !d.external {
		needs = append(needs, need{"--kafka-addr", d.kafkaAddr})
	}
	if d.opsPort != 0 {
		for i := range 3 {
			needs = append(needs, need{"--ops-port", "127.0.0.1:" + strconv.Itoa(d.opsPort+i)})
		}
	}
	for _, n := range needs {
		ln, err := net.Listen("tcp", n.addr)
		if err != nil {
			_, port, _ := net.SplitHostPort(n.addr)
			// %v, not %w: a listen error is no sign of Kafka being away,
			// which humanize would probe for and report instead.
			return fmt.Errorf("port %s (%s %s) is not free: %v; stop what uses it or pass another %s", port, n.flag, n.addr, err, n.flag)
		}
		ln.Close()
	}
	return nil
}

// waitListening waits until addr accepts TCP connections. It returns false
// when ctx ends or the stack stops first (its error is then in errc).
func waitListening(ctx context.Context, addr string, errc chan error) bool {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case err := <-errc:
			errc <- err
			return false
		case <-tick.C:
		}
	}
}

func embeddedNote(d *devOptions) string {
	switch {
	case d.external:
		return " (external)"
	case d.ephemeral:
		return " (embedded, in memory)"
	default:
		return " (embedded, data in " + d.dataDir + ")"
	}
}

func startEmbeddedKafka(d *devOptions) (*kfake.Cluster, error) {
	host, portText, err := net.SplitHostPort(d.kafkaAddr)
	if err != nil {
		return nil, fmt.Errorf("--kafka-addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, errors.New("--kafka-addr: the embedded Kafka listens on loopback only")
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("--kafka-addr: bad port %q", portText)
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.DefaultNumPartitions(int(d.partitions))}
	if !d.ephemeral {
		if err := os.MkdirAll(d.dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("--data-dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(d.dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting the embedded Kafka on %s: %w", d.kafkaAddr, err)
	}
	return c, nil
}

func devTopics(ctx context.Context, o *options, d *devOptions) error {
	specs := o.names().Specs(topic.SpecOpts{Partitions: d.partitions, Sources: []string{topic.DefaultSource}})
	created, err := o.ensureTopics(ctx, specs)
	if err != nil {
		return fmt.Errorf("creating topics: %w", err)
	}
	if len(created) > 0 {
		fmt.Fprintf(o.stderr, "created %d topics\n", len(created))
	}
	return nil
}
