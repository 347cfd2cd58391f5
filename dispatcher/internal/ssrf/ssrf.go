// Package ssrf refuses outgoing connections to addresses a webhook must not
// reach: loopback, private, link-local, cloud metadata, multicast and other
// non-public ranges. The check runs at dial time on the resolved IP address
// (net.Dialer.Control), so a host name that resolves to a private address,
// or a DNS answer that changes between check and use, is caught too.
//
// The table follows IANA's IPv4 and IPv6 Special-Purpose Address
// Registries, as code.dny.dev/ssrf generates them, plus the ranges added
// since (3fff::/20, 5f00::/16, both 2024). Like that package, an IPv6
// address outside global unicast (2000::/3) is never public, so ranges
// IANA sets aside later outside it are refused without a change here.
// That package is not imported: it is not among the module versions this
// project may use. TestClassify pins the table.
//
// An allow-list of prefixes overrides the refusal; local development and
// tests allow 127.0.0.0/8. Allowing 0.0.0.0/0 and ::/0 turns the guard off.
package ssrf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// ErrRefused is the cause of every *RefusedError.
var ErrRefused = errors.New("ssrf: address refused")

// Class names the kind of address an IP is.
type Class string

// Classes of addresses. Every class but Public is refused unless allowed.
const (
	Public      Class = "public"
	Loopback    Class = "loopback"
	Private     Class = "private"    // RFC 1918, fc00::/7, deprecated site-local fec0::/10
	LinkLocal   Class = "link-local" // 169.254.0.0/16, fe80::/10
	Metadata    Class = "cloud-metadata"
	Multicast   Class = "multicast"
	Unspecified Class = "unspecified"
	Shared      Class = "shared-address-space" // CGNAT 100.64.0.0/10
	Reserved    Class = "reserved"             // this-network, benchmarking, future use, documentation, IPv6 forms that hide their target
	Invalid     Class = "invalid"
)

// RefusedError says which address was refused and why.
type RefusedError struct {
	Addr  netip.Addr
	Class Class
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("ssrf: refusing to connect to %s: %s address (not in the allow-list)", e.Addr, e.Class)
}

func (e *RefusedError) Unwrap() error { return ErrRefused }

var (
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack...
		netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
	}
	sharedSpace = netip.MustParsePrefix("100.64.0.0/10")
	reserved    = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),         // "this network"
		netip.MustParsePrefix("192.0.0.0/24"),      // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),      // TEST-NET-1
		netip.MustParsePrefix("192.31.196.0/24"),   // AS112-v4 (RFC 7535)
		netip.MustParsePrefix("192.52.193.0/24"),   // AMT (RFC 7450)
		netip.MustParsePrefix("192.88.99.0/24"),    // deprecated 6to4 relay anycast (RFC 7526)
		netip.MustParsePrefix("192.175.48.0/24"),   // direct delegation AS112 service (RFC 7534)
		netip.MustParsePrefix("198.18.0.0/15"),     // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"),   // TEST-NET-2
		netip.MustParsePrefix("203.0.113.0/24"),    // TEST-NET-3
		netip.MustParsePrefix("240.0.0.0/4"),       // future use, and broadcast
		netip.MustParsePrefix("100::/64"),          // discard-only
		netip.MustParsePrefix("2001::/23"),         // IETF protocol assignments (RFC 2928): PCP and TURN anycast, benchmarking, AMT, AS112, ORCHIDv2, Teredo
		netip.MustParsePrefix("2001:db8::/32"),     // documentation
		netip.MustParsePrefix("2620:4f:8000::/48"), // direct delegation AS112 service (RFC 7534)
		netip.MustParsePrefix("3fff::/20"),         // documentation (RFC 9637, 2024)
		netip.MustParsePrefix("5f00::/16"),         // SRv6 SIDs (RFC 9602, 2024)
		// IPv6 forms whose IPv4 target cannot be read reliably, or that no
		// webhook has a reason to use, are refused outright rather than
		// classified by an embedded address:
		netip.MustParsePrefix("::/96"),          // deprecated IPv4-compatible ::a.b.c.d (:: and ::1 are caught earlier)
		netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64 (RFC 8215): the embedding depends on the operator's prefix length
		netip.MustParsePrefix("2001::/32"),      // Teredo: tunnels to an obfuscated IPv4 client through any relay
	}
	siteLocal     = netip.MustParsePrefix("fec0::/10") // deprecated (RFC 3879), still routed site-locally by some networks
	globalUnicast = netip.MustParsePrefix("2000::/3")  // the only IPv6 range IANA allocates for the internet
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour     = netip.MustParsePrefix("2002::/16")
)

// Classify returns the class of ip. IPv4 addresses embedded in IPv6 ones
// (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16) are classified by the
// IPv4 address they reach. Other IPv6 forms that carry or reach an IPv4
// address (IPv4-compatible ::/96, local-use NAT64 64:ff9b:1::/48, Teredo
// 2001::/32) are Reserved whatever they embed: refused unless allowed. An
// IPv6 address outside 2000::/3 that is no other class is Reserved.
func Classify(ip netip.Addr) Class {
	if !ip.IsValid() {
		return Invalid
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return Classify(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(ip):
			return Classify(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return Metadata
		}
	}
	switch {
	case ip.IsUnspecified():
		return Unspecified
	case ip.IsLoopback():
		return Loopback
	case ip.IsPrivate(), siteLocal.Contains(ip):
		return Private
	case ip.IsLinkLocalUnicast():
		return LinkLocal
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return Multicast
	case sharedSpace.Contains(ip):
		return Shared
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return Reserved
		}
	}
	if ip.Is6() && !globalUnicast.Contains(ip) {
		return Reserved // not global unicast: unallocated, or set aside
	}
	return Public
}

// Guard decides which addresses may be dialled. The zero value refuses
// every non-public address.
type Guard struct {
	allow []netip.Prefix
}

// New returns a guard that also allows the given prefixes.
func New(allow []netip.Prefix) *Guard {
	return &Guard{allow: append([]netip.Prefix(nil), allow...)}
}

// ParsePrefixes parses CIDRs such as "127.0.0.0/8" or a bare address
// (taken as a single-address prefix).
func ParsePrefixes(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return nil, fmt.Errorf("ssrf: %q is neither a CIDR nor an IP address", c)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Check returns nil when ip may be dialled, else a *RefusedError.
func (g *Guard) Check(ip netip.Addr) error {
	ip = ip.Unmap().WithZone("")
	for _, p := range g.allow {
		if p.Contains(ip) {
			return nil
		}
	}
	if c := Classify(ip); c != Public {
		return &RefusedError{Addr: ip, Class: c}
	}
	return nil
}

// Control is a net.Dialer.Control function: it runs after name resolution,
// just before connecting, with address the literal "ip:port" to dial.
func (g *Guard) Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return &RefusedError{Class: Invalid}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &RefusedError{Class: Invalid}
	}
	return g.Check(ip)
}
