package e2e_test

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestHookctlDev runs the README's run command, `hookctl dev`, on an
// ephemeral embedded Kafka and sends the seed's payment through it to a
// signature-checking receiver.
func TestHookctlDev(t *testing.T) {
	kafkaAddr, apiAddr := freeAddr(t), freeAddr(t)
	p := start(t, "hookctl", nil, "dev", "--ephemeral", "--kafka-addr", kafkaAddr, "--api-addr", apiAddr, "--ops-port", "0", "--partitions", "2")

	// The banner prints the generated API key.
	keyRE := regexp.MustCompile(`API key: (dev_[0-9a-f]+)`)
	var key string
	eventually(t, 60*time.Second, "the dev banner", func() bool {
		if p.exited() {
			b, _ := os.ReadFile(p.log)
			t.Fatalf("hookctl dev exited:\n%s", tail(b, 4096))
		}
		f, err := os.Open(p.log)
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
	s := &stack{api: "http://" + apiAddr, apiKey: key}

	recv := newReceiver(t, 200)
	var sec string
	// The API answers once the subscription table is ready.
	eventually(t, 60*time.Second, "the subscription API", func() bool {
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
	eventually(t, 60*time.Second, "the payment at the receiver", func() bool { return recv.count() == 1 })
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
