package deploy_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// repoRoot is the repository's top directory.
var repoRoot = func() string { d, _ := filepath.Abs(".."); return d }()

// loadCompose loads docker-compose.yml as `docker compose` does, with the
// compose-spec library and an empty environment (so the defaults in the
// file apply), and fails the test on any error of the specification.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(repoRoot, "docker-compose.yml")},
		cli.WithWorkingDirectory(repoRoot), cli.WithEnv(nil), cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("loading docker-compose.yml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("service %s: %v", name, err)
	}
	return s
}

// TestCompose checks what issue 13 asks of the compose file: one image,
// built once; Kafka reachable from the host on localhost:9094 with its data
// in a volume; topics created before the services; healthchecks through
// the binaries' healthcheck subcommand and restart policies; two routers
// and two dispatchers; the seed listener on a network the dispatcher's
// SSRF allow-list admits, and nothing else admitted; Prometheus and
// Grafana with files that exist.
func TestCompose(t *testing.T) {
	p := loadCompose(t)
	if p.Name != "hookline" {
		t.Errorf("project name %q", p.Name)
	}
	want := []string{"kafka", "topics", "producer", "router", "dispatcher", "seed-listener", "prometheus", "grafana"}
	if got := p.ServiceNames(); !sameSet(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}

	const image = "hookline:dev"
	var builders []string
	for _, s := range p.Services {
		if s.Image == image && s.Build != nil {
			builders = append(builders, s.Name)
		}
	}
	if len(builders) != 1 {
		t.Errorf("services building %s: %v, want exactly one", image, builders)
	}
	topics := service(t, p, "topics")
	if topics.Build == nil || topics.Build.Context != repoRoot || topics.Build.Args["VERSION"] == nil || *topics.Build.Args["VERSION"] != "dev" {
		t.Errorf("topics build: %+v", topics.Build)
	}
	if !slices.Equal(topics.Command, []string{"hookctl", "topics", "init", "--partitions", "12"}) {
		t.Errorf("topics command %v", topics.Command)
	}
	if d := topics.DependsOn["kafka"]; d.Condition != types.ServiceConditionHealthy {
		t.Errorf("topics waits for kafka %+v", d)
	}

	kafka := service(t, p, "kafka")
	if !strings.HasPrefix(kafka.Image, "apache/kafka:") {
		t.Errorf("kafka image %s", kafka.Image)
	}
	env := func(s types.ServiceConfig, k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	if l := env(kafka, "KAFKA_ADVERTISED_LISTENERS"); !strings.Contains(l, "EXTERNAL://localhost:9094") || !strings.Contains(l, "PLAINTEXT://kafka:9092") {
		t.Errorf("kafka advertises %q", l)
	}
	if !slices.ContainsFunc(kafka.Ports, func(pc types.ServicePortConfig) bool { return pc.Target == 9094 && pc.Published == "9094" }) {
		t.Errorf("kafka ports %+v, want 9094 published", kafka.Ports)
	}
	logDirs := env(kafka, "KAFKA_LOG_DIRS")
	if !slices.ContainsFunc(kafka.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Type == "volume" && v.Target == logDirs }) {
		t.Errorf("kafka volumes %+v, want a named volume at KAFKA_LOG_DIRS %q", kafka.Volumes, logDirs)
	}

	replicas := map[string]int{"producer": 1, "router": 2, "dispatcher": 2}
	for name, n := range replicas {
		s := service(t, p, name)
		if s.Image != image || s.Build != nil || s.PullPolicy != types.PullPolicyNever {
			t.Errorf("%s: image %q build %v pull_policy %q, want the shared image, not built again, never pulled", name, s.Image, s.Build, s.PullPolicy)
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("%s: restart %q", name, s.Restart)
		}
		if s.GetScale() != n {
			t.Errorf("%s: %d replicas, want %d", name, s.GetScale(), n)
		}
		if !slices.Equal(s.Command, []string{name}) {
			t.Errorf("%s: command %v", name, s.Command)
		}
		if s.HealthCheck == nil || !slices.Equal(s.HealthCheck.Test, []string{"CMD", "/usr/local/bin/" + name, "healthcheck", "--ready"}) {
			t.Errorf("%s: healthcheck %+v", name, s.HealthCheck)
		}
		if env(s, "HOOKLINE_BROKERS") != "kafka:9092" {
			t.Errorf("%s: HOOKLINE_BROKERS %q", name, env(s, "HOOKLINE_BROKERS"))
		}
		if d := s.DependsOn["topics"]; d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: depends on topics %+v", name, d)
		}
	}
	if k := env(service(t, p, "producer"), "HOOKLINE_API_KEYS"); len(k) < 16 {
		t.Errorf("producer's default API key %q is shorter than the producer accepts", k)
	}

	// The SSRF allow-list is exactly the receivers network, where the
	// seed listener is, and that network holds nothing else but the
	// dispatchers.
	disp := service(t, p, "dispatcher")
	recv, ok := p.Networks["receivers"]
	if !ok || len(recv.Ipam.Config) != 1 {
		t.Fatalf("receivers network %+v", recv)
	}
	if env(disp, "HOOKLINE_ALLOW_CIDRS") != recv.Ipam.Config[0].Subnet {
		t.Errorf("dispatcher allows %q, the receivers network is %q", env(disp, "HOOKLINE_ALLOW_CIDRS"), recv.Ipam.Config[0].Subnet)
	}
	if pfx, err := netip.ParsePrefix(recv.Ipam.Config[0].Subnet); err != nil || !pfx.Addr().IsPrivate() {
		t.Errorf("receivers subnet %q: %v", recv.Ipam.Config[0].Subnet, err)
	}
	for _, s := range p.Services {
		_, on := s.Networks["receivers"]
		if on != (s.Name == "dispatcher" || s.Name == "seed-listener") {
			t.Errorf("%s on the receivers network: %v", s.Name, on)
		}
	}
	seed := service(t, p, "seed-listener")
	if seed.Build == nil || seed.Build.Context != filepath.Join(repoRoot, "e2e", "testdata", "seed-listener") ||
		!strings.Contains(seed.Build.DockerfileInline, `CMD ["node", "server.js"]`) {
		t.Errorf("seed-listener build %+v", seed.Build)
	}
	if seed.Restart != types.RestartPolicyUnlessStopped {
		t.Errorf("seed-listener restart %q", seed.Restart)
	}

	// Every file the compose file mounts or builds from exists.
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s: %v", s.Name, v.Source, err)
			}
		}
		if s.Build != nil && s.Build.DockerfileInline == "" {
			if _, err := os.Stat(filepath.Join(s.Build.Context, "Dockerfile")); err != nil {
				t.Errorf("%s builds from %s: %v", s.Name, s.Build.Context, err)
			}
		}
	}
	prom := service(t, p, "prometheus")
	for _, f := range []string{"prometheus.yml", "alerts.yml"} {
		if !slices.ContainsFunc(prom.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Source == filepath.Join(repoRoot, "deploy", "prometheus", f)
		}) {
			t.Errorf("prometheus does not mount deploy/prometheus/%s", f)
		}
	}
	graf := service(t, p, "grafana")
	if !slices.ContainsFunc(graf.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Source == filepath.Join(repoRoot, "deploy", "grafana", "hookline.json")
	}) {
		t.Error("grafana does not mount deploy/grafana/hookline.json")
	}
}

// TestComposeVersionOverride checks that HOOKLINE_VERSION tags the image
// and stamps the binaries alike.
func TestComposeVersionOverride(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{filepath.Join(repoRoot, "docker-compose.yml")},
		cli.WithWorkingDirectory(repoRoot), cli.WithEnv([]string{"HOOKLINE_VERSION=v9.9.9"}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"topics", "producer", "router", "dispatcher"} {
		if s := service(t, p, name); s.Image != "hookline:v9.9.9" {
			t.Errorf("%s image %q", name, s.Image)
		}
	}
	if v := service(t, p, "topics").Build.Args["VERSION"]; v == nil || *v != "v9.9.9" {
		t.Errorf("VERSION build arg %v", v)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
