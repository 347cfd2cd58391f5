package e2e_test

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/platform/kafkatest"
	"github.com/hookline/hookline/platform/proctest"
	"github.com/hookline/hookline/schemas/record"
)

// TestHookctlDev runs the README's run command, `hookctl dev`, on an
// ephemeral embedded Kafka and sends the seed's payment through it to a
// signature-checking receiver.
func TestHookctlDev(t *testing.T) {
	kafkaAddr, apiAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	p := start(t, "hookctl", nil, "dev", "--ephemeral", "--kafka-addr", kafkaAddr, "--api-addr", apiAddr, "--ops-port", "0", "--partitions", "2")

	key := devKey(t, p)
	s := &stack{api: "http://" + apiAddr, apiKey: key}

	recv := newReceiver(t, 200)
	var sec string
	// The API answers once the subscription table is ready.
	proctest.Eventually(t, 60*time.Second, "the subscription API", func() bool {
		var created struct {
			Secret string `json:"secret"`
		}
		code := s.call(t, "POST", "/v1/subscriptions", map[string]any{
			"url": recv.srv.URL + "/webhook", "event_types": []string{"payment_success"}, "format": "raw",
		}, &created)
		sec = created.Secret
		return code == 201
	})
	recv.setSecret(t, sec)
	if code := s.call(t, "POST", "/v1/events", map[string]any{
		"type": "payment_success", "amount": 49.99, "customer": "alice@example.com",
	}, nil); code != 202 {
		t.Fatalf("publishing: %d", code)
	}
	proctest.Eventually(t, 60*time.Second, "the payment at the receiver", func() bool { return recv.count() == 1 })
	recv.mu.Lock()
	defer recv.mu.Unlock()
	for _, body := range recv.got {
		if !strings.Contains(string(body), `"customer":"alice@example.com"`) {
			t.Fatalf("raw body %s", body)
		}
	}
	if len(recv.bad) > 0 {
		t.Fatalf("bad signatures: %v", recv.bad)
	}
}

// devKey waits for the banner of hookctl dev and returns the admin API key
// it prints.
func devKey(t *testing.T, p *proc) string {
	t.Helper()
	keyRE := regexp.MustCompile(`admin key +(dev_[0-9a-f]+)`)
	var key string
	proctest.Eventually(t, 60*time.Second, "the dev banner", func() bool {
		if p.Exited() {
			b, _ := os.ReadFile(p.Log)
			t.Fatalf("hookctl dev exited:\n%s", proctest.Tail(b, 4096))
		}
		f, err := os.Open(p.Log)
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := keyRE.FindStringSubmatch(sc.Text()); m != nil {
				key = m[1]
				return true
			}
		}
		return false
	})
	return key
}

// TestHookctlDevRidesOutBrokerRestart runs hookctl dev --external on a
// broker of its own, kills the broker and starts it again on the same
// data: the stack recovers by itself (the API answers 503 meanwhile, then
// 202) and delivers events sent before and after, and dev never exits.
func TestHookctlDevRidesOutBrokerRestart(t *testing.T) {
	b := startOwnBroker(t)
	apiAddr := proctest.FreeAddr(t)
	p := start(t, "hookctl", nil, "dev", "--external", "--brokers", b.brokers, "--topic-prefix", "hl-devout.",
		"--api-addr", apiAddr, "--ops-port", "0", "--partitions", "2")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(p.Log)
			var keep []string
			for _, l := range strings.Split(string(b), "\n") {
				if !strings.Contains(l, "\tkafka\t") && !strings.Contains(l, "partition ") {
					keep = append(keep, l)
				}
			}
			t.Logf("hookctl dev log without franz-go and partition lines:\n%s", strings.Join(keep, "\n"))
		}
	})
	s := &stack{api: "http://" + apiAddr, apiKey: devKey(t, p)}
	recv := newReceiver(t, 200)
	var sec, subID string
	proctest.Eventually(t, 60*time.Second, "the subscription API", func() bool {
		var created struct {
			Subscription struct {
				ID string `json:"id"`
			} `json:"subscription"`
			Secret string `json:"secret"`
		}
		code := s.call(t, "POST", "/v1/subscriptions", map[string]any{
			"url": recv.srv.URL + "/webhook", "event_types": []string{"payment_success"}, "format": "raw",
		}, &created)
		sec, subID = created.Secret, created.Subscription.ID
		return code == 201
	})
	recv.setSecret(t, sec)
	send := func(i int) (int, []string) {
		var ids struct {
			IDs []string `json:"ids"`
		}
		code := s.call(t, "POST", "/v1/events", map[string]any{"type": "payment_success", "amount": i, "customer": "dev@example.com"}, &ids)
		return code, ids.IDs
	}
	var want []string
	if code, ids := send(1); code != 202 {
		t.Fatalf("publishing before the outage: %d", code)
	} else {
		want = append(want, ids...)
	}
	proctest.Eventually(t, 60*time.Second, "the first event at the receiver", func() bool { return recv.count() == 1 })

	b.kill(t)
	proctest.Eventually(t, 10*time.Second, "503 while the broker is down", func() bool {
		code, _ := send(2)
		return code == 503
	})
	time.Sleep(15 * time.Second) // test code: the outage itself
	b.up(t)
	proctest.Eventually(t, 10*time.Second, "202 within 10 s of the broker's return", func() bool {
		code, ids := send(3)
		if code == 202 {
			want = append(want, ids...)
		}
		return code == 202
	})
	arrived := func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		for _, id := range want {
			if _, ok := recv.got[record.DeliveryID("urn:hookline:producer", id, subID)]; !ok {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(90 * time.Second)
	for !arrived() {
		if time.Now().After(deadline) {
			c := &kafkatest.Cluster{Kind: kafkatest.KindEnv, Brokers: []string{b.brokers}}
			committed := committedDeliveries(t, c, "hl-devout.deliveries")
			for _, id := range want {
				did := record.DeliveryID("urn:hookline:producer", id, subID)
				t.Logf("event %s: delivery %s committed %d times by the router", id, did, committed[did])
			}
			t.Fatalf("the events sent before and after the outage did not all reach the receiver (it got %d)", recv.count())
		}
		time.Sleep(100 * time.Millisecond) // test code: polling
	}
	if p.Exited() {
		t.Fatal("hookctl dev exited")
	}
}
