package record

import (
	"math"
	"strconv"
)

// appendAttempt appends the JSON encoding/json makes of a, written
// directly (the dispatcher writes one per HTTP attempt), or reports false
// when a holds something it leaves to encoding/json: strings with
// characters to escape, floats it writes in exponent form or refuses,
// times it refuses. TestAppendAttemptFields fails when Attempt gains a
// field this does not write.
func appendAttempt(b []byte, a *Attempt) ([]byte, bool) {
	if !plainJSON(a.DeliveryID) || !plainJSON(a.SubscriptionID) || !plainJSON(a.EventID) ||
		!plainJSON(a.Error) || !plainJSON(a.Result) {
		return b, false
	}
	if abs := math.Abs(a.LatencyMillis); math.IsNaN(a.LatencyMillis) || math.IsInf(a.LatencyMillis, 0) ||
		abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return b, false
	}
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(a.V), 10)
	b = append(b, `,"delivery_id":"`...)
	b = append(b, a.DeliveryID...)
	b = append(b, `","subscription_id":"`...)
	b = append(b, a.SubscriptionID...)
	b = append(b, `","event_id":"`...)
	b = append(b, a.EventID...)
	b = append(b, `","attempt":`...)
	b = strconv.AppendInt(b, int64(a.Attempt), 10)
	if a.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(a.Status), 10)
	}
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendFloat(b, a.LatencyMillis, 'f', -1, 64)
	if a.Error != "" {
		b = append(b, `,"error":"`...)
		b = append(b, a.Error...)
		b = append(b, '"')
	}
	b = append(b, `,"result":"`...)
	b = append(b, a.Result...)
	b = append(b, `","at":"`...)
	b, err := a.At.AppendText(b) // what Time.MarshalJSON writes between its quotes
	if err != nil {
		return b, false
	}
	return append(b, `"}`...), true
}

// plainJSON reports whether encoding/json writes s as itself between
// quotes: printable ASCII without '"', '\\', '<', '>' and '&'.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
