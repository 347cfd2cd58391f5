package receiver

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSeq(t *testing.T) {
	for _, tt := range []struct {
		body string
		want int64
	}{
		{`{"seq":42,"pad":"x"}`, 42},
		{`{"type":"t","data":{"seq": 7}}`, 7},
		{`{"pad":"x"}`, -1},
		{`{"seq":"x"}`, -1},
	} {
		if got := Seq([]byte(tt.body)); got != tt.want {
			t.Errorf("Seq(%s) = %d, want %d", tt.body, got, tt.want)
		}
	}
}

func TestBehaviours(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s.Set(1, Behaviour{Fail: true})
	s.Set(2, Behaviour{Hang: true})
	s.KeepStamps(true)
	post := func(n int, body string, timeout time.Duration) int {
		c := &http.Client{Timeout: timeout}
		req, _ := http.NewRequest("POST", s.URL(n), strings.NewReader(body))
		req.Header.Set("Hookline-Sent-At", "2026-01-02T03:04:05.123456789Z")
		resp, err := c.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(0, `{"seq":3}`, 5*time.Second); got != http.StatusNoContent {
		t.Errorf("instant endpoint answered %d", got)
	}
	if got := post(1, `{"seq":4}`, 5*time.Second); got != http.StatusInternalServerError {
		t.Errorf("failing endpoint answered %d", got)
	}
	if got := post(2, `{"seq":5}`, 100*time.Millisecond); got != 0 {
		t.Errorf("hanging endpoint answered %d", got)
	}
	if _, err := s.WaitOK(t.Context(), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	a := s.Arrivals()
	if len(a) != 2 || a[0].Seq != 3 || !a[0].OK || a[1].Seq != 4 || a[1].OK {
		t.Fatalf("arrivals %+v", a)
	}
	if _, ok := a[0].Stamps["hookline-sent-at"]; !ok {
		t.Errorf("stamps %v lack hookline-sent-at", a[0].Stamps)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := s.WaitOK(ctx, 2, 50*time.Millisecond); err == nil {
		t.Error("WaitOK for 2 with one 2xx answer returned no error")
	}
}
