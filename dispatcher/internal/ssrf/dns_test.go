package ssrf

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dnsServer answers every A and AAAA question over UDP with the addresses
// it was given: a name server that maps any name to loopback, as one
// under an attacker's control would.
func dnsServer(t *testing.T, answers []netip.Addr) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], answers); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	})
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return pc.LocalAddr().String()
}

// dnsAnswer builds the response to one query (RFC 1035, section 4).
func dnsAnswer(q []byte, answers []netip.Addr) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil
	}
	question := q[12 : i+5]
	qtype := binary.BigEndian.Uint16(q[i+1 : i+3])
	var rrs [][]byte
	for _, a := range answers {
		var rdata []byte
		switch {
		case qtype == 1 && a.Is4():
			b := a.As4()
			rdata = b[:]
		case qtype == 28 && a.Is6():
			b := a.As16()
			rdata = b[:]
		default:
			continue
		}
		rr := []byte{0xc0, 12} // the question's name
		rr = binary.BigEndian.AppendUint16(rr, qtype)
		rr = binary.BigEndian.AppendUint16(rr, 1)  // IN
		rr = binary.BigEndian.AppendUint32(rr, 60) // TTL
		rr = binary.BigEndian.AppendUint16(rr, uint16(len(rdata)))
		rrs = append(rrs, append(rr, rdata...))
	}
	resp := append([]byte{}, q[0:2]...)           // id
	resp = append(resp, 0x81, 0x80)               // response, recursion desired and available
	resp = binary.BigEndian.AppendUint16(resp, 1) // questions
	resp = binary.BigEndian.AppendUint16(resp, uint16(len(rrs)))
	resp = append(resp, 0, 0, 0, 0) // authority, additional
	resp = append(resp, question...)
	for _, rr := range rrs {
		resp = append(resp, rr...)
	}
	return resp
}

// TestNamesResolvingToLoopbackAreRefused dials names through a resolver
// whose server answers loopback (and unspecified) addresses for every
// name: DNS rebinding or a hostile record. Every dial is refused at
// Control with the class of the address. Numeric host forms (decimal,
// octal, hex, short) that some resolvers turn into loopback connect to
// nothing either. The listener behind those addresses accepts nothing. Private,
// link-local and metadata addresses are checked through Control without
// dialling (TestControlRefusesPrivateAddresses), so no test sends a
// packet off this machine even if the guard were broken.
func TestNamesResolvingToLoopbackAreRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	for _, tt := range []struct {
		name    string
		answers []netip.Addr
		want    []Class
	}{
		{"loopback", []netip.Addr{netip.MustParseAddr("127.0.0.1")}, []Class{Loopback}},
		{"IPv6 loopback and IPv4 loopback", []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")}, []Class{Loopback}},
		{"unspecified", []netip.Addr{netip.MustParseAddr("0.0.0.0")}, []Class{Unspecified}},
		{"IPv4-mapped loopback in AAAA", []netip.Addr{netip.MustParseAddr("::ffff:127.0.0.1")}, []Class{Loopback}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dns := dnsServer(t, tt.answers)
			d := &net.Dialer{Timeout: 2 * time.Second, Control: New(nil).Control, Resolver: &net.Resolver{
				PreferGo: true,
				Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, "udp", dns)
				},
			}}
			// Numeric host forms: Go's resolver does not read them as
			// addresses and will not look them up (no such host); a
			// resolver that did would answer loopback here. Either way
			// no connection is made.
			for _, host := range []string{"2130706433", "0177.0.0.1", "0x7f000001", "127.1", "017700000001", "0x7f.1"} {
				c, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort(host, port))
				if err == nil {
					c.Close()
					t.Errorf("dial %s connected", host)
				}
			}
			for _, host := range []string{"rebind.example", "hooks.customer.test", "localhost.attacker.test", "a.b.c.d.e.f"} {
				_, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort(host, port))
				var re *RefusedError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), "ssrf") {
					t.Errorf("dial %s: %v, want a *RefusedError", host, err)
					continue
				}
				ok := false
				for _, c := range tt.want {
					ok = ok || re.Class == c
				}
				if !ok {
					t.Errorf("dial %s: refused as %s, want one of %v", host, re.Class, tt.want)
				}
			}
		})
	}
	if n := accepted.Load(); n > 0 {
		t.Fatalf("the loopback listener accepted %d connections the guard should have refused", n)
	}
}

// TestControlRefusesPrivateAddresses calls Control as a dialer would after
// resolving a name to each address, without dialling.
func TestControlRefusesPrivateAddresses(t *testing.T) {
	g := New(nil)
	for _, tt := range []struct {
		addr string
		want Class
	}{
		{"10.0.0.1:443", Private},
		{"172.16.5.4:80", Private},
		{"192.168.0.10:8080", Private},
		{"169.254.169.254:80", Metadata},
		{"[fd00:ec2::254]:80", Metadata},
		{"169.254.10.10:80", LinkLocal},
		{"[fe80::1%25eth0]:80", LinkLocal},
		{"[::ffff:10.0.0.1]:80", Private},
		{"[::ffff:169.254.169.254]:80", Metadata},
		{"[64:ff9b::a9fe:a9fe]:80", Metadata},
		{"[2002:a00:1::1]:80", Private},
		{"100.64.1.1:80", Shared},
		{"[fc00::5]:80", Private},
		{"[3fff::1]:80", Reserved},
		{"[5f00::1]:80", Reserved},
		{"198.18.0.1:80", Reserved},
		{"not-an-ip:80", Invalid},
		{"no-port", Invalid},
	} {
		err := g.Control("tcp", tt.addr, nil)
		var re *RefusedError
		if !errors.As(err, &re) || re.Class != tt.want {
			t.Errorf("Control(%s) = %v, want refused as %s", tt.addr, err, tt.want)
		}
	}
	if err := g.Control("tcp", "8.8.8.8:443", nil); err != nil {
		t.Errorf("Control(8.8.8.8:443) = %v, want nil", err)
	}
}
