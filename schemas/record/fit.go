package record

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// RecordSize estimates the bytes r takes in a record batch of its own: key,
// value and headers plus the batch and per-field framing, rounded up.
func RecordSize(r *kgo.Record) int {
	const (
		batchOverhead  = 61 // the v2 record batch header
		recordOverhead = 40 // length, attributes, deltas, key/value lengths
		headerOverhead = 10 // two varint lengths per header
	)
	n := batchOverhead + recordOverhead + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += headerOverhead + len(h.Key) + len(h.Value)
	}
	return n
}

// Fit returns build's record of d, cut to at most maxBytes (see
// RecordSize) when it is larger: the raw value is shortened and flagged
// Truncated, and LastError says how much was kept and where the whole
// record is (d.Source). A dead letter that carries a decoded Delivery is
// first turned into its raw form (orig), since a delivery cannot be cut
// and stay valid. build encodes d as the caller keys and labels it; Fit
// calls it again after every cut. maxBytes <= 0 means no limit.
func (d *DeadLetter) Fit(maxBytes int, orig *kgo.Record, build func() (*kgo.Record, error)) (*kgo.Record, error) {
	out, err := build()
	if err != nil || maxBytes <= 0 || RecordSize(out) <= maxBytes {
		return out, err
	}
	if d.Delivery != nil && orig != nil {
		d.Delivery, d.Raw = nil, RawOf(orig)
	}
	if d.Raw == nil {
		return out, nil // nothing to cut
	}
	full := len(d.Raw.Value)
	note := d.LastError
	for range 4 {
		excess := RecordSize(out) - maxBytes
		if excess <= 0 {
			return out, nil
		}
		// The value is base64 in JSON: 4 bytes for every 3 of raw value.
		keep := len(d.Raw.Value) - (excess*3+3)/4 - 256
		if keep <= 0 {
			d.Raw.Value, d.Raw.Headers, d.Raw.Key = nil, nil, nil
		} else {
			d.Raw.Value = d.Raw.Value[:keep]
		}
		d.Raw.Truncated = true
		d.LastError = fmt.Sprintf("%s; raw value truncated to %d of %d bytes (the whole record is at %s)",
			note, len(d.Raw.Value), full, d.Source)
		if out, err = build(); err != nil {
			return nil, err
		}
	}
	if RecordSize(out) > maxBytes {
		d.Raw = nil
		return build()
	}
	return out, nil
}
