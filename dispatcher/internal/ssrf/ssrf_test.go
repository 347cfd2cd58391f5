package ssrf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		ip   string
		want Class
	}{
		{"8.8.8.8", Public},
		{"1.1.1.1", Public},
		{"2606:4700:4700::1111", Public},
		{"127.0.0.1", Loopback},
		{"127.255.255.254", Loopback},
		{"::1", Loopback},
		{"10.0.0.1", Private},
		{"10.255.255.255", Private},
		{"172.16.0.1", Private},
		{"172.31.255.255", Private},
		{"172.32.0.1", Public},
		{"192.168.1.1", Private},
		{"fc00::1", Private},
		{"fd12:3456::1", Private},
		{"169.254.1.1", LinkLocal},
		{"fe80::1", LinkLocal},
		{"fe80::1%eth0", LinkLocal},
		{"169.254.169.254", Metadata},
		{"fd00:ec2::254", Metadata},
		{"224.0.0.1", Multicast},
		{"239.255.255.250", Multicast},
		{"ff02::1", Multicast},
		{"ff05::2", Multicast},
		{"0.0.0.0", Unspecified},
		{"::", Unspecified},
		{"100.64.0.1", Shared},
		{"100.127.255.255", Shared},
		{"100.128.0.1", Public},
		{"0.1.2.3", Reserved},
		{"192.0.0.8", Reserved},
		{"198.18.0.1", Reserved},
		{"240.0.0.1", Reserved},
		{"255.255.255.255", Reserved},
		{"2001:db8::1", Reserved},
		// IPv4 reached through IPv6 forms is classified as the IPv4 address.
		{"::ffff:127.0.0.1", Loopback},
		{"::ffff:10.0.0.1", Private},
		{"::ffff:169.254.169.254", Metadata},
		{"::ffff:8.8.8.8", Public},
		{"64:ff9b::a00:1", Private},                        // NAT64 of 10.0.0.1
		{"64:ff9b::a9fe:a9fe", Metadata},                   // NAT64 of 169.254.169.254
		{"2002:7f00:1::1", Loopback},                       // 6to4 of 127.0.0.1
		{"2002:808:808::1", Public},                        // 6to4 of 8.8.8.8
		{"64:ff9b::808:808", Public},                       // NAT64 of 8.8.8.8
		{"::ffff:100.64.0.1", Shared},                      // mapped CGNAT
		{"2002:c0a8:101::1", Private},                      // 6to4 of 192.168.1.1
		{"64:ff9b::7f00:1", Loopback},                      // NAT64 of 127.0.0.1
		{"::ffff:0.0.0.0", Unspecified},                    // mapped unspecified
		{"2606:4700::6810:84e5", Public},                   // a public IPv6 address
		{"100::1", Reserved},                               // discard-only
		{"fec0::1", Private},                               // deprecated site-local
		{"feff:ffff::1", Private},                          // top of fec0::/10
		{"::a00:1", Reserved},                              // IPv4-compatible ::10.0.0.1
		{"::7f00:1", Reserved},                             // IPv4-compatible ::127.0.0.1
		{"::808:808", Reserved},                            // IPv4-compatible ::8.8.8.8: refused whatever it embeds
		{"::2", Reserved},                                  // IPv4-compatible ::0.0.0.2
		{"64:ff9b:1::a00:1", Reserved},                     // local-use NAT64
		{"64:ff9b:1:ffff::1", Reserved},                    // top of 64:ff9b:1::/48
		{"64:ff9b:2::1", Reserved},                         // above local-use NAT64, outside 2000::/3
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", Reserved}, // Teredo
		{"2001:0:ffff::1", Reserved},                       // top of 2001::/32
		{"2001:1::1", Reserved},                            // PCP anycast, in 2001::/23
		{"2001:4860:4860::8888", Public},                   // a public address in 2001::/16
		{"192.0.2.1", Reserved},                            // TEST-NET-1
		{"203.0.113.5", Reserved},                          // TEST-NET-3
		{"198.51.100.7", Reserved},                         // TEST-NET-2
		{"172.15.255.255", Public},                         // just below 172.16/12
		{"11.0.0.1", Public},                               // just above 10/8
		{"169.253.255.255", Public},                        // just below link-local
		{"126.255.255.255", Public},                        // just below loopback
		{"128.0.0.0", Public},                              // just above loopback
		{"223.255.255.255", Public},                        // just below multicast
		{"fbff:ffff:ffff:ffff::1", Reserved},               // just below fc00::/7, outside 2000::/3
		{"fe00::1", Reserved},                              // between fc00::/7 and fe80::/10, outside 2000::/3
		{"febf:ffff:ffff:ffff::1", LinkLocal},              // top of fe80::/10
		// IANA special-purpose ranges beyond the classic ones.
		{"192.31.196.1", Reserved},       // AS112-v4
		{"192.52.193.1", Reserved},       // AMT
		{"192.88.99.1", Reserved},        // 6to4 relay anycast
		{"192.175.48.1", Reserved},       // AS112 direct delegation
		{"192.0.0.9", Reserved},          // PCP anycast
		{"192.0.0.170", Reserved},        // NAT64/DNS64 discovery
		{"2001:2::1", Reserved},          // benchmarking
		{"2001:3::1", Reserved},          // AMT
		{"2001:4:112::1", Reserved},      // AS112-v6
		{"2001:20::1", Reserved},         // ORCHIDv2
		{"2001:1ff:ffff::1", Reserved},   // top of 2001::/23
		{"2001:200::1", Public},          // just above 2001::/23
		{"2620:4f:8000::1", Reserved},    // AS112 direct delegation
		{"2620:4f:8001::1", Public},      // just above it
		{"3fff::1", Reserved},            // documentation (RFC 9637)
		{"3fff:fff:ffff::1", Reserved},   // top of 3fff::/20
		{"3fff:1000::1", Public},         // just above it
		{"5f00::1", Reserved},            // SRv6 SIDs (RFC 9602)
		{"4000::1", Reserved},            // outside global unicast
		{"1::1", Reserved},               // outside global unicast
		{"::ffff:192.88.99.1", Reserved}, // mapped 6to4 relay anycast
		{"64:ff9b::c0a8:101", Private},   // NAT64 of 192.168.1.1
		{"2002:a9fe:a9fe::1", Metadata},  // 6to4 of 169.254.169.254
		{"::ffff:a9fe:a9fe", Metadata},   // mapped metadata, hex
		{"fd00:ec2::254%eth0", Metadata}, // with a zone
		{"2001:4860:4860::8844", Public}, // outside 2001::/23
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			if got := Classify(netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Errorf("Classify(%s) = %s, want %s", tt.ip, got, tt.want)
			}
		})
	}
	if got := Classify(netip.Addr{}); got != Invalid {
		t.Errorf("Classify(zero) = %s, want invalid", got)
	}
}

func TestGuardAllowList(t *testing.T) {
	allow, err := ParsePrefixes([]string{"127.0.0.0/8", "10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	g := New(allow)
	tests := []struct {
		ip      string
		refused bool
	}{
		{"127.0.0.1", false},
		{"::ffff:127.0.0.1", false},
		{"10.1.2.3", false},
		{"10.1.2.4", true},
		{"::1", true}, // IPv6 loopback is not in 127.0.0.0/8
		{"169.254.169.254", true},
		{"8.8.8.8", false},
	}
	for _, tt := range tests {
		err := g.Check(netip.MustParseAddr(tt.ip))
		if (err != nil) != tt.refused {
			t.Errorf("Check(%s) = %v, want refused=%v", tt.ip, err, tt.refused)
		}
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Errorf("Check(%s) error %v does not wrap ErrRefused", tt.ip, err)
		}
	}
	var zero Guard
	if zero.Check(netip.MustParseAddr("127.0.0.1")) == nil {
		t.Error("the zero Guard allowed loopback")
	}
}

func TestParsePrefixes(t *testing.T) {
	if _, err := ParsePrefixes([]string{"not-a-cidr"}); err == nil {
		t.Error("ParsePrefixes accepted garbage")
	}
	got, err := ParsePrefixes([]string{"10.1.2.3/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].String() != "10.0.0.0/8" || got[1].String() != "::1/128" {
		t.Errorf("ParsePrefixes = %v", got)
	}
}

// TestControlRefusesBeforeConnecting dials through a net.Dialer using the
// guard: the refusal comes from Control, before any packet is sent, and
// reaches the caller as a *RefusedError.
func TestControlRefusesBeforeConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	d := &net.Dialer{Timeout: 2 * time.Second, Control: New(nil).Control}
	_, err = d.DialContext(t.Context(), "tcp", ln.Addr().String())
	var re *RefusedError
	if !errors.As(err, &re) || re.Class != Loopback {
		t.Fatalf("dial error = %v, want a loopback *RefusedError", err)
	}
	select {
	case <-accepted:
		t.Fatal("the listener accepted a connection the guard refused")
	default:
	}
	// Allowed, the same dial connects.
	d.Control = New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).Control
	c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("allowed dial: %v", err)
	}
	c.Close()
}
