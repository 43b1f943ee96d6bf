package rip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP returns the address of the client that sent r.
//
// # Security
//
// Directly exposed (the default), the socket peer is the only truth: any
// X-Forwarded-For or Forwarded header is attacker-written and ignored.
// When server.trusted_proxies lists CIDRs and server.client_ip_proxy_header
// names a header, and only when the socket peer itself is a trusted proxy,
// the header's comma-separated hops are read right to left and the first
// address that is not a trusted proxy wins (the right-most untrusted hop);
// the client-controlled left end is never believed. Malformed hops stop
// the walk and the last trusted address seen is used: the function fails
// closed to an address a proxy vouched for.
func clientIP(r *http.Request, header string, trusted []netip.Prefix) netip.Addr {
	peer := remoteAddr(r)
	if header == "" || len(trusted) == 0 || !inPrefixes(peer, trusted) {
		return peer
	}
	values := r.Header.Values(header)
	ip := peer
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(values[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return ip
			}
			// A zone ("fe80::1%eth0") names an interface of the sender's
			// host, not a client, and may hold any bytes: it is dropped so
			// it can reach neither a log record nor a budget key.
			ip = a.Unmap().WithZone("")
			if !inPrefixes(ip, trusted) {
				return ip
			}
		}
	}
	return ip
}

// remoteAddr parses r.RemoteAddr; an unparsable one (never from net/http
// with a TCP listener) maps to the unspecified address.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		a, err := netip.ParseAddr(host)
		if err != nil {
			return netip.IPv6Unspecified()
		}
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parsePrefixes parses CIDRs or bare addresses (as /32 or /128).
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR", s)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// addrKey is the string an address is budgeted under: IPv4 as is, IPv6 by
// its /64, since one client commonly owns a whole /64.
func addrKey(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
