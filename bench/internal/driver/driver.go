// Package driver is the `make bench` program: flags, broker, builds, the
// scenarios in order, and the results file, charts and BENCHMARKS.md.
package driver

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/bench/internal/results"
	"github.com/hookline/hookline/bench/internal/scenario"
)

// Config is the driver's settings.
type Config struct {
	Scale       float64
	KafkaPort   int
	Brokers     string // an external broker: no kafka-up/down, no broker CPU unless BrokerPID
	BrokerPID   int
	Only        []int
	Format      string
	WindowBytes int64
	Notes       []string
	Render      bool
	Timeout     time.Duration
	// Source is what the binaries are built from: "worktree" (the files
	// as they are) or "HEAD" (the last commit, exported with git archive).
	Source string
	// Publish writes the results into bench/results and BENCHMARKS.md even
	// for a partial run (-only, or a scale other than 1).
	Publish bool
}

// Run parses args and runs the benchmark.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	scale := 1.0
	if v := getenv("BENCH_SCALE"); v != "" {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || s <= 0 {
			return fmt.Errorf("BENCH_SCALE=%q: want a positive number", v)
		}
		scale = s
	}
	port := 29122
	if v := getenv("BENCH_KAFKA_PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("BENCH_KAFKA_PORT=%q: %w", v, err)
		}
		port = p
	}
	fs.Float64Var(&cfg.Scale, "scale", scale, "multiplies every scenario's size (env BENCH_SCALE)")
	quick := fs.Bool("quick", false, "a tenth of the sizes (-scale 0.1)")
	fs.IntVar(&cfg.KafkaPort, "kafka-port", port, "port of the broker make kafka-up starts (controller: the next one) (env BENCH_KAFKA_PORT)")
	fs.StringVar(&cfg.Brokers, "brokers", getenv("BENCH_BROKERS"), "use this running broker instead of starting one (env BENCH_BROKERS)")
	fs.IntVar(&cfg.BrokerPID, "broker-pid", 0, "with -brokers: the broker's pid, to measure its CPU")
	only := fs.String("only", getenv("BENCH_ONLY"), "comma-separated scenario numbers to run, 1-9 (env BENCH_ONLY; default all)")
	fs.StringVar(&cfg.Format, "format", "standard", "payload format of the benchmark subscriptions")
	fs.Int64Var(&cfg.WindowBytes, "window-bytes", 0, "value of the dispatcher's --window-bytes when it has the flag (0: the default its --help shows)")
	note := fs.String("note", getenv("BENCH_NOTE"), "a note shown in BENCHMARKS.md (env BENCH_NOTE)")
	fs.BoolVar(&cfg.Render, "render", false, "only render BENCHMARKS.md and the charts from the newest results file")
	fs.DurationVar(&cfg.Timeout, "timeout", 45*time.Minute, "give up after this long")
	fs.StringVar(&cfg.Source, "source", "worktree", "build the binaries from the work tree (worktree) or from the last commit (HEAD, through git archive)")
	fs.BoolVar(&cfg.Publish, "publish", false, "write bench/results and BENCHMARKS.md even for a partial run (-only, -quick, -scale other than 1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *quick {
		cfg.Scale = 0.1
	}
	if cfg.Source != "worktree" && cfg.Source != "HEAD" {
		return fmt.Errorf("-source %q: want worktree or HEAD", cfg.Source)
	}
	if *note != "" {
		cfg.Notes = append(cfg.Notes, *note)
	}
	if *only != "" {
		for s := range strings.SplitSeq(*only, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || n > 9 {
				return fmt.Errorf("-only %q: want numbers 1 to 9", *only)
			}
			cfg.Only = append(cfg.Only, n)
		}
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	resultsDir := filepath.Join(root, "bench", "results")
	if cfg.Render {
		latest, err := results.Latest(resultsDir)
		if err != nil {
			return err
		}
		r, err := results.Load(latest)
		if err != nil {
			return err
		}
		return publish(r, root, stdout)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	return bench(ctx, cfg, root, args, stdout)
}

// publish writes the charts and BENCHMARKS.md of r.
func publish(r *results.Run, root string, stdout io.Writer) error {
	dir := filepath.Join(root, "bench", "results")
	paths, err := results.Charts(r, dir)
	if err != nil {
		return err
	}
	md := filepath.Join(root, "BENCHMARKS.md")
	if err := os.WriteFile(md, []byte(results.Markdown(r, "bench/results")), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %d charts in %s\n", md, len(paths), dir)
	return nil
}

func bench(ctx context.Context, cfg Config, root string, args []string, stdout io.Writer) error {
	started := time.Now().UTC()
	runID := started.Format("150405")
	logDir, err := os.MkdirTemp("", "hookline-bench-"+runID+"-")
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stdout, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	logf("process logs in %s", logDir)

	run := &results.Run{Date: started.Format(time.DateOnly), StartedAt: started, Scale: cfg.Scale,
		Command: command(args), Machine: machine(), Notes: cfg.Notes}
	run.Commit, run.Dirty = gitState(ctx, root)
	run.Source = cfg.Source
	if cfg.Source == "HEAD" {
		run.Dirty = false
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(la))
		if len(f) >= 3 {
			run.Notes = append(run.Notes, fmt.Sprintf("Load average when the run started: %s %s %s (%d CPUs). "+
				"The machine may be shared with other work, so absolute figures are noisy; the ratios within one run, measured side by side, are what count.", f[0], f[1], f[2], runtime.NumCPU()))
		}
	}

	// The build and the broker's start overlap: both take a while on a busy machine.
	logf("building the binaries")
	type built struct {
		bins map[string]string
		err  error
	}
	buildDone := make(chan built, 1)
	go func() {
		bins, err := build(ctx, cfg.Source, root, logDir)
		buildDone <- built{bins, err}
	}()
	env := &scenario.Env{LogDir: logDir, Scale: cfg.Scale, Format: cfg.Format, Log: stdout, RunID: runID}
	if cfg.Brokers != "" {
		env.Brokers, env.BrokerPID = cfg.Brokers, cfg.BrokerPID
	} else {
		logf("starting Apache Kafka on 127.0.0.1:%d (make kafka-up)", cfg.KafkaPort)
		brokers, pid, err := kafkaUp(ctx, root, cfg.KafkaPort, stdout)
		defer func() {
			logf("stopping Apache Kafka (make kafka-down)")
			kafkaDown(root, cfg.KafkaPort, stdout)
		}()
		if err != nil {
			<-buildDone
			return err
		}
		env.Brokers, env.BrokerPID = brokers, pid
	}
	b := <-buildDone
	if b.err != nil {
		return b.err
	}
	env.Bins = b.bins
	run.Version = versions(ctx, env.Bins)
	if err := env.Open(ctx); err != nil {
		return err
	}
	defer env.Close()

	steps := []struct {
		n        []int
		prefixes []string // topic prefixes of the step, created up front
		run      func() []results.Scenario
	}{
		{[]int{1}, []string{"i11-instant"}, func() []results.Scenario { return []results.Scenario{env.Instant(ctx, cfg.WindowBytes)} }},
		{[]int{2}, []string{"i11-slow"}, func() []results.Scenario { return []results.Scenario{env.Slow(ctx, cfg.WindowBytes)} }},
		{[]int{3}, []string{"i11-backlog"}, func() []results.Scenario { return []results.Scenario{env.Backlog(ctx, cfg.WindowBytes)} }},
		{[]int{4}, []string{"i11-e2e"}, func() []results.Scenario { return []results.Scenario{env.EndToEnd(ctx)} }},
		{[]int{5}, []string{"i11-isolation"}, func() []results.Scenario { return []results.Scenario{env.Isolation(ctx)} }},
		{[]int{6}, []string{"i11-scale1", "i11-scale2"}, func() []results.Scenario { return []results.Scenario{env.Scaling(ctx)} }},
		{[]int{7}, []string{"i18-drain"}, func() []results.Scenario { return []results.Scenario{env.Drain(ctx)} }},
		{[]int{8, 9}, []string{"i18-live"}, func() []results.Scenario { a, b := env.LiveAndLatency(ctx); return []results.Scenario{a, b} }},
	}
	selected := func(ns []int) bool {
		return len(cfg.Only) == 0 || slices.ContainsFunc(ns, func(n int) bool { return slices.Contains(cfg.Only, n) })
	}
	for _, s := range steps {
		if selected(s.n) {
			env.Prepare(ctx, s.prefixes...)
		}
	}
	var failed []string
	for _, s := range steps {
		if !selected(s.n) {
			continue
		}
		t0 := time.Now()
		logf("scenario %v", s.n)
		for _, sc := range s.run() {
			if sc.Error != "" {
				logf("  %s did not finish: %s", sc.ID, sc.Error)
				failed = append(failed, sc.ID)
			}
			for _, t := range sc.Targets {
				logf("  %s: %s %.2f (want %s): pass %v", sc.ID, t.Name, t.Got, t.Want, t.Pass)
			}
			run.Scenarios = append(run.Scenarios, sc)
		}
		logf("  took %s", time.Since(t0).Round(time.Second))
		if ctx.Err() != nil {
			break
		}
	}
	run.FinishedAt = time.Now().UTC()
	// An interrupted or timed-out run is partial too.
	full := len(cfg.Only) == 0 && cfg.Scale == 1 && ctx.Err() == nil
	if full || cfg.Publish {
		path, err := results.Save(filepath.Join(root, "bench", "results"), run)
		if err != nil {
			return err
		}
		logf("wrote %s in %s", path, run.FinishedAt.Sub(started).Round(time.Second))
		if err := publish(run, root, stdout); err != nil {
			return err
		}
	} else {
		// A partial run does not replace the day's full results.
		path, err := results.Save(logDir, run)
		if err != nil {
			return err
		}
		if _, err := results.Charts(run, logDir); err != nil {
			return err
		}
		md := filepath.Join(logDir, "BENCHMARKS.md")
		if err := os.WriteFile(md, []byte(results.Markdown(run, ".")), 0o644); err != nil {
			return err
		}
		logf("partial run: wrote %s, %s and the charts there (-publish puts them in bench/results)", path, md)
	}
	if len(failed) > 0 {
		return fmt.Errorf("scenarios that did not finish: %s (process logs in %s)", strings.Join(failed, ", "), logDir)
	}
	return nil
}

// command is how the run was asked for, for the results.
func command(args []string) string {
	c := "make bench"
	if len(args) > 0 {
		c = "go run ./bench/cmd/bench " + strings.Join(args, " ")
	}
	if s := os.Getenv("BENCH_SCALE"); s != "" {
		c = "BENCH_SCALE=" + s + " " + c
	}
	return c
}

// repoRoot is the folder with go.work above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory: run from the repository")
		}
		dir = parent
	}
}

// build compiles the binaries into dir, from the work tree or from HEAD
// exported into dir/src.
func build(ctx context.Context, source, root, dir string) (map[string]string, error) {
	src := root
	if source == "HEAD" {
		src = filepath.Join(dir, "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return nil, err
		}
		sh := exec.CommandContext(ctx, "sh", "-c", "git -C \"$0\" archive --format=tar HEAD | tar -x -C \"$1\"", root, src)
		if b, err := sh.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("exporting HEAD: %w\n%s", err, b)
		}
	}
	pkgs := map[string]string{
		"producer": "./producer/cmd/producer", "router": "./router/cmd/router", "dispatcher": "./dispatcher/cmd/dispatcher",
		"hookctl": "./hookctl/cmd/hookctl", "naive": "./bench/cmd/naive",
	}
	bins := map[string]string{}
	for name, pkg := range pkgs {
		out := filepath.Join(dir, name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = src
		if _, err := os.Stat(filepath.Join(src, pkg)); err != nil {
			cmd.Dir = root // a commit before the naive consumer existed
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %w\n%s", pkg, err, b)
		}
		bins[name] = out
	}
	return bins, nil
}

// kafkaUp runs make kafka-up and returns the brokers and the JVM's pid.
func kafkaUp(ctx context.Context, root string, port int, stdout io.Writer) (string, int, error) {
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "kafka-up", "KAFKA_PORT="+strconv.Itoa(port))
	cmd.Dir = root
	cmd.Stderr = stdout
	out, err := cmd.Output()
	if err != nil {
		return "", 0, fmt.Errorf("make kafka-up KAFKA_PORT=%d: %w", port, err)
	}
	brokers := ""
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "KAFKA_BROKERS="); ok {
			brokers = v
		}
	}
	if brokers == "" {
		return "", 0, fmt.Errorf("make kafka-up printed no KAFKA_BROKERS line:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(root, "deploy", "kafka-local", ".run", "kafka-"+strconv.Itoa(port), "kafka.pid"))
	if err != nil {
		return brokers, 0, fmt.Errorf("the broker's pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return brokers, 0, fmt.Errorf("the broker's pid file: %w", err)
	}
	return brokers, pid, nil
}

func kafkaDown(root string, port int, stdout io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "kafka-down", "KAFKA_PORT="+strconv.Itoa(port))
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = stdout, stdout
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(stdout, "make kafka-down KAFKA_PORT=%d: %v\n", port, err)
	}
}

func gitState(ctx context.Context, root string) (string, bool) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown", true
	}
	st, _ := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	return strings.TrimSpace(string(out)), len(strings.TrimSpace(string(st))) > 0
}

func machine() results.Machine {
	m := results.Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemoryMB = kb / 1024
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`) + " " + m.OS
			}
		}
	}
	return m
}

func versions(ctx context.Context, bins map[string]string) results.Versions {
	v := results.Versions{Go: runtime.Version(), Kafka: "4.1.1", Binaries: map[string]string{}}
	if k := os.Getenv("KAFKA_VERSION"); k != "" {
		v.Kafka = k
	}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		v.Go = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "java", "-version").CombinedOutput(); err == nil {
		v.Java = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	for _, name := range []string{"producer", "router", "dispatcher"} {
		out, err := exec.CommandContext(ctx, bins[name], "version").CombinedOutput()
		if err != nil {
			v.Binaries[name] = "unknown (" + err.Error() + ")"
			continue
		}
		v.Binaries[name] = strings.TrimSpace(string(out))
	}
	return v
}
