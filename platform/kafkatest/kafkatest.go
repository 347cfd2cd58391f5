// Package kafkatest gives tests a Kafka broker and unique topics on it.
//
// The broker is, in order of preference:
//
//  1. the one KAFKA_BROKERS names (comma-separated), for example the real
//     Apache Kafka that `make kafka-up` starts and CI uses;
//  2. a Kafka container started through testcontainers-go, when a Docker
//     daemon answers (set KAFKATEST_NO_DOCKER=1 to skip this);
//  3. an in-process kfake cluster from franz-go, closed by t.Cleanup.
//
// Real brokers are shared by every test of a package, so each test asks for
// topics and group names with unique suffixes and tests can run in parallel.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kclient"
	"github.com/hookline/hookline/schemas/topic"
	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Kinds of broker a Cluster can be.
const (
	KindEnv       = "env"       // KAFKA_BROKERS
	KindContainer = "container" // testcontainers-go
	KindKfake     = "kfake"     // in-process franz-go kfake
)

// ContainerImage is the image started when a Docker daemon answers. The
// testcontainers Kafka module supports the confluent-local images.
const ContainerImage = "confluentinc/confluent-local:7.5.0"

// Cluster is a broker a test can use.
type Cluster struct {
	Kind    string
	Brokers []string
}

var (
	containerOnce sync.Once
	containerC    *Cluster
	containerErr  error
)

// New returns the test's broker (see the package documentation).
func New(t testing.TB) *Cluster {
	t.Helper()
	if env := os.Getenv("KAFKA_BROKERS"); env != "" {
		return &Cluster{Kind: KindEnv, Brokers: splitBrokers(env)}
	}
	if os.Getenv("KAFKATEST_NO_DOCKER") == "" && dockerAnswers() {
		containerOnce.Do(func() { containerC, containerErr = startContainer() })
		if containerErr == nil {
			return containerC
		}
		t.Logf("kafkatest: container broker failed, using kfake: %v", containerErr)
	}
	return NewKfake(t)
}

// NewKfake returns a fresh in-process kfake cluster closed at cleanup.
func NewKfake(t testing.TB) *Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatalf("kafkatest: starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Kind: KindKfake, Brokers: c.ListenAddrs()}
}

func splitBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// dockerAnswers reports whether a Docker daemon answers a ping. It looks
// for a socket first, because testcontainers panics when it finds no host.
func dockerAnswers() (ok bool) {
	if os.Getenv("DOCKER_HOST") == "" {
		if _, err := os.Stat("/var/run/docker.sock"); err != nil {
			return false
		}
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return false
	}
	defer cli.Close()
	_, err = cli.Ping(ctx)
	return err == nil
}

// startContainer starts one broker for the whole test binary; the
// testcontainers reaper removes it when the process exits.
func startContainer() (*Cluster, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kc, err := tckafka.Run(ctx, ContainerImage, tckafka.WithClusterID("hookline-test"))
	if err != nil {
		return nil, err
	}
	brokers, err := kc.Brokers(ctx)
	if err != nil {
		return nil, err
	}
	return &Cluster{Kind: KindContainer, Brokers: brokers}, nil
}

// Opts returns client options that reach the cluster.
func (c *Cluster) Opts() []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
}

// Client returns a client closed at cleanup.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(c.Opts(), opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns an admin client closed at cleanup.
func (c *Cluster) Admin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(c.Client(t))
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Name returns a name unique to this test run: base, the test's name and a
// random suffix, safe for topics and groups.
func Name(t testing.TB, base string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	n := base + "-" + unsafeChars.ReplaceAllString(t.Name(), "_")
	if len(n) > 180 {
		n = n[:180]
	}
	return n + "-" + hex.EncodeToString(b)
}

// Topic creates a topic unique to the test and returns its name. Topics on
// a shared broker are deleted at cleanup.
func (c *Cluster) Topic(t testing.TB, partitions int32, configs map[string]string) string {
	t.Helper()
	name := Name(t, "t")
	c.CreateTopics(t, topic.Spec{Name: name, Partitions: partitions, ReplicationFactor: 1, Configs: configs})
	return name
}

// CreateTopics creates the given topics and deletes them at cleanup.
func (c *Cluster) CreateTopics(t testing.TB, specs ...topic.Spec) {
	t.Helper()
	adm := c.Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	created, err := kclient.EnsureTopics(ctx, adm, specs)
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	if c.Kind != KindKfake && len(created) > 0 {
		t.Cleanup(func() {
			cl, err := kgo.NewClient(c.Opts()...)
			if err != nil {
				return
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = kadm.NewClient(cl).DeleteTopics(ctx, created...)
		})
	}
}

// Hookline creates every Hookline topic under a prefix unique to the test
// (partitions per deliveries and retry topic; retry levels as given, 0 for
// the default) plus a unique source topic, and returns their names.
func (c *Cluster) Hookline(t testing.TB, partitions int32, retryLevels int) (names topic.Names, source string) {
	t.Helper()
	prefix := Name(t, "hl") + "."
	names = topic.New(prefix)
	source = prefix + "events"
	c.CreateTopics(t, names.Specs(topic.SpecOpts{Partitions: partitions, RetryLevels: retryLevels, Sources: []string{source}})...)
	return names, source
}
