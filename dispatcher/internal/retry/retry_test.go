package retry

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Schedule
		wantErr string // a part of the error; "" for none
	}{
		{"one tier", "5s", Schedule{5 * time.Second}, ""},
		{"the default", "5s,5m0s,30m0s,2h0m0s,5h0m0s,10h0m0s,10h0m0s", DefaultSchedule, ""},
		{"short forms", "5s,5m,30m", Schedule{5 * time.Second, 5 * time.Minute, 30 * time.Minute}, ""},
		{"compound and fractional", "1h30m,1.5s,250ms", Schedule{90 * time.Minute, 1500 * time.Millisecond, 250 * time.Millisecond}, ""},
		{"spaces around fields", " 5s , 1m\t,\n2h ", Schedule{5 * time.Second, time.Minute, 2 * time.Hour}, ""},
		{"empty fields are skipped", ",5s,,1m,", Schedule{5 * time.Second, time.Minute}, ""},
		{"equal and decreasing delays", "1m,1m,1s", Schedule{time.Minute, time.Minute, time.Second}, ""},
		{"nanoseconds", "1ns", Schedule{1}, ""},
		{"empty", "", nil, "at least one tier"},
		{"only separators and spaces", " , ,, ", nil, "at least one tier"},
		{"no unit", "5", nil, `missing unit in duration "5"`},
		{"unknown unit", "5s,5y", nil, `unknown unit "y" in duration "5y"`},
		{"a word", "5s,soon", nil, `invalid duration "soon"`},
		{"space inside a duration", "5 s", nil, `"5 s"`},
		{"overflow", "9999999h", nil, `invalid duration "9999999h"`},
		{"zero", "0s", nil, "tier 1: delay 0s is not positive"},
		{"bare zero", "5s,0", nil, "tier 2: delay 0s is not positive"},
		{"negative", "5s,1m,-1m", nil, "tier 3: delay -1m0s is not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), "retry schedule: ") || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) = %v, %v; want an error \"retry schedule: …%s…\"", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		s    Schedule
		want string
	}{
		{DefaultSchedule, "5s,5m0s,30m0s,2h0m0s,5h0m0s,10h0m0s,10h0m0s"},
		{Schedule{1500 * time.Millisecond}, "1.5s"},
		{Schedule{1, time.Minute}, "1ns,1m0s"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", []time.Duration(tt.s), got, tt.want)
		}
	}
}

func TestDelay(t *testing.T) {
	s := Schedule{10 * time.Second, 5 * time.Minute, 3 * time.Second}
	// The largest r rand.Float64 returns.
	almostOne := math.Nextafter(1, 0)
	tests := []struct {
		name    string
		tier    int
		r       float64
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"r=0 is base-20%", 1, 0, 8 * time.Second, 8 * time.Second},
		{"r=0.5 is base", 1, 0.5, 10 * time.Second, 10 * time.Second},
		{"r=0.25 is base-10%", 1, 0.25, 9 * time.Second, 9 * time.Second},
		// 0.8+0.4r rounds to 1.2 for the largest r below 1: the top is
		// reached, never passed.
		{"r→1 reaches base+20% at most", 1, almostOne, 12*time.Second - time.Microsecond, 12 * time.Second},
		{"tier 2, r=0", 2, 0, 4 * time.Minute, 4 * time.Minute},
		{"tier 2, r=0.5", 2, 0.5, 5 * time.Minute, 5 * time.Minute},
		{"tier 2, r→1", 2, almostOne, 6*time.Minute - time.Microsecond, 6 * time.Minute},
		{"last tier, r=0", 3, 0, 2400 * time.Millisecond, 2400 * time.Millisecond},
		{"last tier, r=0.5", 3, 0.5, 3 * time.Second, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Delay(tt.tier, tt.r)
			if got < tt.atLeast || got > tt.atMost {
				t.Errorf("Delay(%d, %v) = %v, want in [%v, %v]", tt.tier, tt.r, got, tt.atLeast, tt.atMost)
			}
		})
	}
}

// TestDelayWithRand checks that jittered delays with real random numbers
// stay within ±Jitter of the tier's delay.
func TestDelayWithRand(t *testing.T) {
	s := Schedule{time.Second, time.Hour}
	for tier := 1; tier <= len(s); tier++ {
		base := s[tier-1]
		lo, hi := time.Duration(float64(base)*(1-Jitter)), time.Duration(float64(base)*(1+Jitter))
		for range 10000 {
			if d := s.Delay(tier, Rand()); d < lo || d > hi {
				t.Fatalf("Delay(%d, Rand()) = %v, want in [%v, %v]", tier, d, lo, hi)
			}
		}
	}
}

func TestNext(t *testing.T) {
	s := Schedule{time.Second, 10 * time.Second, 100 * time.Second}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name       string
		tier       int
		retryAfter time.Duration
		r          float64
		wantTier   int
		wantAfter  time.Duration // notBefore - now
		wantOK     bool
	}{
		{"first failure goes to tier 1", 0, 0, 0.5, 1, time.Second, true},
		{"tier 1 to tier 2", 1, 0, 0.5, 2, 10 * time.Second, true},
		{"tier 2 to the last tier", 2, 0, 0.5, 3, 100 * time.Second, true},
		{"after the last tier none is left", 3, 0, 0.5, 0, 0, false},
		{"beyond the schedule none is left", 7, 0, 0.5, 0, 0, false},
		{"jitter low", 0, 0, 0, 1, 800 * time.Millisecond, true},
		{"jitter high", 1, 0, 0.75, 2, 11 * time.Second, true},
		{"Retry-After shorter than the next tier keeps it", 0, 500 * time.Millisecond, 0.5, 1, time.Second, true},
		{"Retry-After equal to the next tier keeps it", 0, time.Second, 0.5, 1, time.Second, true},
		{"Retry-After longer skips to the first tier as long", 0, 5 * time.Second, 0.5, 2, 10 * time.Second, true},
		{"Retry-After equal to a later tier stops there", 0, 10 * time.Second, 0.5, 2, 10 * time.Second, true},
		{"Retry-After just above a tier skips it", 0, 10*time.Second + 1, 0.5, 3, 100 * time.Second, true},
		{"Retry-After from tier 1", 1, 50 * time.Second, 0.5, 3, 100 * time.Second, true},
		{"Retry-After above the jittered delay sets the due time", 0, 9 * time.Second, 0, 2, 9 * time.Second, true},
		{"Retry-After longer than every tier lands in the last", 0, time.Hour, 0.5, 3, time.Hour, true},
		{"Retry-After longer than every tier from the last but one", 2, time.Hour, 0, 3, time.Hour, true},
		{"Retry-After after the last tier leaves none", 3, time.Hour, 0.5, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, nb, ok := s.Next(tt.tier, tt.retryAfter, now, tt.r)
			var want time.Time
			if tt.wantOK {
				want = now.Add(tt.wantAfter)
			}
			if next != tt.wantTier || ok != tt.wantOK || !nb.Equal(want) {
				t.Errorf("Next(%d, %v, now, %v) = %d, now+%v, %v; want %d, now+%v, %v",
					tt.tier, tt.retryAfter, tt.r, next, nb.Sub(now), ok, tt.wantTier, tt.wantAfter, tt.wantOK)
			}
			if ok && nb.Before(now.Add(tt.retryAfter)) {
				t.Errorf("not-before now+%v is earlier than the Retry-After %v", nb.Sub(now), tt.retryAfter)
			}
		})
	}
}

// TestNextWalksEveryTier follows a delivery that always fails through the
// whole schedule, with real jitter.
func TestNextWalksEveryTier(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var tiers []int
	for tier := 0; ; {
		next, nb, ok := DefaultSchedule.Next(tier, 0, now, Rand())
		if !ok {
			if next != 0 || !nb.IsZero() {
				t.Errorf("Next(%d) with none left = %d, %v; want 0 and the zero time", tier, next, nb)
			}
			break
		}
		base := DefaultSchedule[next-1]
		if wait := nb.Sub(now); wait < time.Duration(float64(base)*(1-Jitter)) || wait > time.Duration(float64(base)*(1+Jitter)) {
			t.Errorf("tier %d due after %v, want %v ±20%%", next, wait, base)
		}
		tiers = append(tiers, next)
		if len(tiers) > len(DefaultSchedule) {
			t.Fatalf("more tiers than the schedule has: %v", tiers)
		}
		tier, now = next, nb
	}
	if want := []int{1, 2, 3, 4, 5, 6, 7}; !slices.Equal(tiers, want) {
		t.Errorf("tiers walked %v, want %v", tiers, want)
	}
}

func TestDecide(t *testing.T) {
	s := Schedule{time.Second, 10 * time.Second}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	retry := func(tier int, after time.Duration) Decision {
		return Decision{Kind: Retry, Tier: tier, NotBefore: now.Add(after)}
	}
	dead := func(reason string) Decision { return Decision{Kind: DeadLetter, Reason: reason} }
	tests := []struct {
		name       string
		res        Result
		tier       int
		retryAfter time.Duration
		want       Decision
	}{
		{"success", Success, 0, 0, Decision{Kind: Delivered}},
		{"success in the last tier", Success, 2, 0, Decision{Kind: Delivered}},
		{"success ignores Retry-After", Success, 0, time.Hour, Decision{Kind: Delivered}},
		{"gone disables", Gone, 0, 0, Decision{Kind: DeadLetter, Reason: ReasonEndpointGone, Disable: true}},
		{"gone in a retry tier", Gone, 1, 0, Decision{Kind: DeadLetter, Reason: ReasonEndpointGone, Disable: true}},
		{"rejected", Rejected, 0, 0, dead(ReasonRejected)},
		{"rejected with tiers left and Retry-After", Rejected, 1, time.Minute, dead(ReasonRejected)},
		{"refused", Refused, 0, 0, dead(ReasonRefused)},
		{"no secret", NoSecret, 1, 0, dead(ReasonNoSigningSecret)},
		{"failed first attempt", Failed, 0, 0, retry(1, time.Second)},
		{"failed in tier 1", Failed, 1, 0, retry(2, 10*time.Second)},
		{"failed in the last tier", Failed, 2, 0, dead(ReasonExhausted)},
		{"failed with Retry-After skips a tier", Failed, 0, 5 * time.Second, retry(2, 10*time.Second)},
		{"failed with Retry-After beyond the schedule", Failed, 0, time.Hour, retry(2, time.Hour)},
		{"failed in the last tier with Retry-After", Failed, 2, time.Second, dead(ReasonExhausted)},
		{"an unknown result is retried", Result(99), 0, 0, retry(1, time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(s, tt.res, tt.tier, tt.retryAfter, now, 0.5)
			if got.Kind != tt.want.Kind || got.Tier != tt.want.Tier || !got.NotBefore.Equal(tt.want.NotBefore) ||
				got.Reason != tt.want.Reason || got.Disable != tt.want.Disable {
				t.Errorf("Decide(%d, tier %d, Retry-After %v) = %+v, want %+v", tt.res, tt.tier, tt.retryAfter, got, tt.want)
			}
		})
	}
}

// FuzzParse checks that Parse never panics, that what it accepts is a
// valid schedule, and that it reads back what String writes.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"5s", "5s,5m,30m", " 5s , 1m ", ",,1h30m,", "1.5s", "0s", "-1m", "5s,soon", "", "1ns",
		"2562047h47m16.854775807s", "9999999h", ".5s", "1e3s", "5µs,5us", DefaultSchedule.String(),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			return
		}
		if verr := s.Validate(); verr != nil {
			t.Fatalf("Parse(%q) accepted %v, which does not validate: %v", in, s, verr)
		}
		again, err := Parse(s.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %v, whose String %q does not parse: %v", in, s, s.String(), err)
		}
		if !slices.Equal(again, s) {
			t.Fatalf("Parse(%q) = %v; Parse(String()) = %v", in, s, again)
		}
	})
}
