package record

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hookline/hookline/schemas/event"
)

// The dispatcher decodes every delivery it consumes, and encoding/json
// spends most of that time scanning the event's data several times over
// (validation, the outer struct, the event's attribute map, the copy).
// fastDelivery reads the common shape of a Delivery value in one pass. It
// only reports ok when encoding/json would decode the same bytes without
// an error into the same Delivery (FuzzFastDelivery compares the two); for
// anything else (escapes in strings, nulls, duplicate or unknown keys,
// numbers that are not plain integers, invalid UTF-8, deep nesting, text
// data in a JSON string, syntax errors) it gives up, and DecodeDelivery
// uses encoding/json, whose result and errors stay the reference.

// maxFastDepth is the deepest nesting of event data fastDelivery reads;
// deeper data goes to encoding/json (which allows 10,000 levels).
const maxFastDepth = 500

// fastDelivery decodes b as a Delivery, or reports false when it cannot
// vouch for the result (see above). Event.Data shares b's memory. A member
// it does not know makes it give up: TestFastDeliveryReadsEveryField fails
// when Delivery gains a field this does not read. compact reports that
// the event's Data is compact JSON (see DecodeDeliveryData), as found by
// the same pass that validated it.
func fastDelivery(b []byte) (d Delivery, compact, ok bool) {
	if compact, ok = fastDeliveryTo(&d, b); !ok {
		return Delivery{}, false, false
	}
	return d, compact, true
}

// fastDeliveryTo is fastDelivery into *d, which must be zero, and is left
// in any state when it reports false. (Through a pointer, a goroutine
// that decodes a delivery first thing does not grow its stack for copies
// of the Delivery.)
func fastDeliveryTo(d *Delivery, b []byte) (compact, ok bool) {
	// The scanner does not check the bytes of strings, so this is what
	// keeps invalid UTF-8 (in the event's data, say) out of a result it
	// vouches for.
	if !utf8.Valid(b) {
		return false, false
	}
	s := scanner{b: b}
	if !s.delivery(d) {
		return false, false
	}
	return s.compact, true
}

func (s *scanner) delivery(d *Delivery) bool {
	s.ws()
	if !s.eat('{') {
		return false
	}
	var seen uint32
	s.ws()
	if s.eat('}') {
		return s.end()
	}
	for {
		s.ws()
		key, ok := s.plainString()
		if !ok {
			return false
		}
		bit := deliveryBit(key)
		if bit == 0 || seen&bit != 0 {
			return false // unknown, or a duplicate (encoding/json keeps the last)
		}
		seen |= bit
		s.ws()
		if !s.eat(':') {
			return false
		}
		s.ws()
		switch string(key) {
		case "v":
			ok = s.int(&d.V)
		case "id":
			ok = s.string(&d.ID)
		case "subscription_id":
			ok = s.string(&d.SubscriptionID)
		case "event":
			ok = s.event(&d.Event)
		case "attempt":
			ok = s.int(&d.Attempt)
		case "not_before":
			ok = s.time(&d.NotBefore)
		case "first_attempt_at":
			ok = s.time(&d.FirstAttemptAt)
		case "replay_of":
			ok = s.string(&d.ReplayOf)
		case "routed_at":
			ok = s.time(&d.RoutedAt)
		case "accepted_at":
			ok = s.time(&d.AcceptedAt)
		case "tier":
			ok = s.int(&d.Tier)
		case "parked_at":
			ok = s.time(&d.ParkedAt)
		default:
			ok = false
		}
		if !ok {
			return false
		}
		s.ws()
		if s.eat('}') {
			return s.end()
		}
		if !s.eat(',') {
			return false
		}
	}
}

// deliveryBit numbers the members fastDelivery reads, by bit: 0 for
// another name. (A switch, not a map: no hashing per member.)
func deliveryBit(key []byte) uint32 {
	switch string(key) {
	case "v":
		return 1 << 0
	case "id":
		return 1 << 1
	case "subscription_id":
		return 1 << 2
	case "event":
		return 1 << 3
	case "attempt":
		return 1 << 4
	case "not_before":
		return 1 << 5
	case "first_attempt_at":
		return 1 << 6
	case "replay_of":
		return 1 << 7
	case "routed_at":
		return 1 << 8
	case "tier":
		return 1 << 9
	case "parked_at":
		return 1 << 10
	case "accepted_at":
		return 1 << 11
	}
	return 0
}

func (s *scanner) string(dst *string) bool {
	str, ok := s.plainString()
	if ok {
		*dst = string(str)
	}
	return ok
}

func (s *scanner) int(dst *int) bool {
	n, ok := s.integer()
	if ok {
		*dst = int(n)
	}
	return ok
}

// time reads a time as time.Time's UnmarshalJSON does (it reads the
// quoted text itself, as encoding/json has it do).
func (s *scanner) time(dst *time.Time) bool {
	start := s.i
	if _, ok := s.plainString(); !ok {
		return false
	}
	return dst.UnmarshalJSON(s.b[start:s.i]) == nil
}

// end reports whether nothing but whitespace follows.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// event reads a structured-mode CloudEvent object as event.Event's
// UnmarshalJSON does.
func (s *scanner) event(e *event.Event) bool {
	if !s.eat('{') {
		return false
	}
	var data, data64 []byte
	dataRewrites := false
	var seen uint16 // attributes read, by bit
	s.ws()
	if s.eat('}') {
		return true
	}
	for {
		s.ws()
		key, ok := s.plainString()
		if !ok {
			return false
		}
		if bit := attrBit(key); bit != 0 {
			if seen&bit != 0 {
				return false // a duplicate: encoding/json keeps the last
			}
			seen |= bit
		}
		s.ws()
		if !s.eat(':') {
			return false
		}
		s.ws()
		var dst *string
		switch string(key) {
		case "id":
			dst = &e.ID
		case "source":
			dst = &e.Source
		case "specversion":
			dst = &e.SpecVersion
		case "type":
			dst = &e.Type
		case "datacontenttype":
			dst = &e.DataContentType
		case "dataschema":
			dst = &e.DataSchema
		case "subject":
			dst = &e.Subject
		case "time":
			str, ok := s.plainString()
			if !ok || len(str) == 0 {
				return false
			}
			t, err := time.Parse(time.RFC3339Nano, string(str))
			if err != nil {
				return false
			}
			if y := t.UTC().Year(); y < 0 || y > 9999 {
				return false
			}
			e.Time = t
		case "data":
			start := s.i
			s.rewrites = false
			if !s.value(0) || string(s.b[start:s.i]) == "null" {
				return false
			}
			data, dataRewrites = s.b[start:s.i], s.rewrites
		case "data_base64":
			str, ok := s.plainString()
			if !ok {
				return false
			}
			data64 = str
		default:
			str, ok := s.plainString()
			if !ok {
				return false // not a string (or null): encoding/json's turn
			}
			if _, dup := e.Extensions[string(key)]; dup {
				return false
			}
			if e.Extensions == nil {
				e.Extensions = make(map[string]string)
			}
			e.Extensions[string(key)] = string(str)
		}
		if dst != nil {
			str, ok := s.plainString()
			if !ok {
				return false
			}
			*dst = string(str)
		}
		s.ws()
		if s.eat('}') {
			break
		}
		if !s.eat(',') {
			return false
		}
	}
	switch {
	case data != nil && data64 != nil:
		return false
	case data != nil:
		if !e.DataIsJSON() && data[0] == '"' {
			return false // text carried as a JSON string
		}
		e.Data = data
		s.compact = !dataRewrites
	case data64 != nil:
		raw, err := base64.StdEncoding.DecodeString(string(data64))
		if err != nil {
			return false
		}
		e.Data = raw
	}
	return true
}

// attrBit numbers the attributes event reads by name, by bit: 0 for an
// extension.
func attrBit(key []byte) uint16 {
	switch string(key) {
	case "id":
		return 1 << 0
	case "source":
		return 1 << 1
	case "specversion":
		return 1 << 2
	case "type":
		return 1 << 3
	case "datacontenttype":
		return 1 << 4
	case "dataschema":
		return 1 << 5
	case "subject":
		return 1 << 6
	case "time":
		return 1 << 7
	case "data":
		return 1 << 8
	case "data_base64":
		return 1 << 9
	}
	return 0
}

// scanner reads JSON from b at i.
type scanner struct {
	b []byte
	i int
	// rewrites is set when ws or str passes something encoding/json
	// rewrites in a JSON value it embeds: whitespace between tokens (it
	// compacts them), '<', '>', '&', U+2028 or U+2029 (it escapes them).
	rewrites bool
	// compact is set by event when it took the event's data from a
	// "data" member in which it found nothing encoding/json rewrites.
	compact bool
}

func (s *scanner) ws() {
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
			continue
		}
		break
	}
	if s.i > start {
		s.rewrites = true
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// plainString reads a JSON string without escapes and returns its text:
// false for anything else, and for invalid UTF-8 (encoding/json replaces
// it).
func (s *scanner) plainString() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start, ascii := s.i, true
	for len(s.b)-s.i >= 8 && plain8(binary.LittleEndian.Uint64(s.b[s.i:])) {
		s.i += 8 // ASCII without '"', '\\' or control characters (nor '<', '>', '&')
	}
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			str := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(str) {
				return nil, false
			}
			return str, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}

// integer reads a JSON number that is a plain integer (what encoding/json
// decodes into an int without an error).
func (s *scanner) integer() (int64, bool) {
	start := s.i
	s.eat('-')
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	switch {
	case s.i == digits:
		return 0, false
	case s.b[digits] == '0' && s.i-digits > 1:
		return 0, false // a leading zero: not JSON
	case s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E'):
		return 0, false
	}
	n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 0)
	return n, err == nil
}

// value skips one valid JSON value (RFC 8259, as json.Valid checks it:
// strings may hold any bytes but control characters, escapes must be
// valid).
func (s *scanner) value(depth int) bool {
	if s.i >= len(s.b) || depth > maxFastDepth {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		s.i++
		s.ws()
		if s.eat('}') {
			return true
		}
		for {
			s.ws()
			if !s.str() {
				return false
			}
			s.ws()
			if !s.eat(':') {
				return false
			}
			s.ws()
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.eat('}') {
				return true
			}
			if !s.eat(',') {
				return false
			}
		}
	case c == '[':
		s.i++
		s.ws()
		if s.eat(']') {
			return true
		}
		for {
			s.ws()
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.eat(']') {
				return true
			}
			if !s.eat(',') {
				return false
			}
		}
	case c == '"':
		return s.str()
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *scanner) literal(l string) bool {
	if len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l {
		s.i += len(l)
		return true
	}
	return false
}

// Classes of bytes in a JSON string, for str.
const (
	strPlain   = iota // nothing to do
	strQuote          // the end
	strControl        // not allowed
	strEscape         // a backslash
	strHTML           // '<', '>', '&': encoding/json escapes them
	strE2             // may start U+2028 or U+2029, which encoding/json escapes
)

var strClass = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = strControl
	}
	t['"'], t['\\'] = strQuote, strEscape
	t['<'], t['>'], t['&'] = strHTML, strHTML, strHTML
	t[0xE2] = strE2
	return t
}()

// plain8 reports whether the eight bytes of x are plain ASCII for str:
// none below 0x20 or above 0x7f, none of '"', '\\', '<', '>', '&'.
// (Bytes above 0x7f are plain too, but for 0xE2; str looks at them one
// by one.)
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	if x&highs != 0 {
		return false
	}
	// With no high bit set, a byte borrows in x - ones*c only if it is
	// below c, and v - ones sets a byte's high bit where v has a zero
	// byte (the first one exactly; what it reports is right for "any").
	zero := func(v uint64) uint64 { return (v - ones) & ^v & highs }
	below := (x - ones*0x20) & ^x & highs
	return below|zero(x^(ones*'"'))|zero(x^(ones*'\\'))|zero(x^(ones*'<'))|zero(x^(ones*'>'))|zero(x^(ones*'&')) == 0
}

// str skips a valid JSON string, noting in rewrites what encoding/json
// would escape in it.
func (s *scanner) str() bool {
	if !s.eat('"') {
		return false
	}
	for {
		for len(s.b)-s.i >= 8 && plain8(binary.LittleEndian.Uint64(s.b[s.i:])) {
			s.i += 8
		}
		for s.i < len(s.b) && strClass[s.b[s.i]] == strPlain {
			s.i++
		}
		if s.i >= len(s.b) {
			return false
		}
		c := s.b[s.i]
		s.i++
		switch strClass[c] {
		case strQuote:
			return true
		case strControl:
			return false
		case strHTML:
			s.rewrites = true
		case strE2:
			if len(s.b)-s.i >= 2 && s.b[s.i] == 0x80 && (s.b[s.i+1] == 0xA8 || s.b[s.i+1] == 0xA9) {
				s.rewrites = true
			}
		case strEscape:
			if s.i >= len(s.b) {
				return false
			}
			e := s.b[s.i]
			s.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(s.b)-s.i < 4 {
					return false
				}
				for _, h := range s.b[s.i : s.i+4] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				s.i += 4
			default:
				return false
			}
		}
	}
}

// number skips a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	s.eat('-')
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.eat('0') {
		// no more integer digits after a leading zero
	} else if digits() == 0 {
		return false
	}
	if s.eat('.') && digits() == 0 {
		return false
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
