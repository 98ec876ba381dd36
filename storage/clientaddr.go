package storage

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr returns the address of the client that sent r. It is the TCP
// peer, unless the peer is one of the trusted proxies: then it is the
// right-most address of the forwarding chain that is not itself a trusted
// proxy, read from the Forwarded header (RFC 7239) or X-Forwarded-For,
// every line of either. Left of that address a client may have written
// anything, so nothing there is read.
//
// A proxy appends to one of the two headers; the other, if any, came from
// the client as it was. So when both are present they must name the same
// client. When they do not, or the chain cannot be read, or the client hop
// is "unknown" or obfuscated (RFC 7239 §6), the result is the zero Addr:
// the caller does not know who is calling, and checks that need an
// address (registered networks, clause 10) refuse.
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	return Proxies{Trusted: trusted}.ClientAddr(r)
}

// Proxy headers a deployment's trusted proxies may be said to write.
const (
	HeaderForwarded     = "forwarded"
	HeaderXForwardedFor = "x-forwarded-for"
)

// Proxies says whose forwarding headers are believed, and which.
type Proxies struct {
	// Trusted are the reverse proxies' ranges.
	Trusted []netip.Prefix
	// Header is the one header the trusted proxies write (HeaderForwarded
	// or HeaderXForwardedFor); the other is then ignored, whatever a
	// client (or its own egress proxy) wrote in it. Empty: either, and
	// when both arrive they must name the same client.
	Header string
}

// ClientAddr is the package's ClientAddr under p: with p.Header set, only
// that header is read.
func (p Proxies) ClientAddr(r *http.Request) netip.Addr {
	trusted := p.Trusted
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !inPrefixes(peer, trusted) {
		return peer
	}
	fwd, xff := r.Header.Values("Forwarded"), r.Header.Values("X-Forwarded-For")
	switch p.Header {
	case HeaderForwarded:
		xff = nil
	case HeaderXForwardedFor:
		fwd = nil
	}
	var a, b netip.Addr
	okA, okB := len(fwd) == 0, len(xff) == 0
	if !okA {
		hops, err := ParseForwarded(fwd)
		a, okA = rightmostUntrusted(hops, err, trusted)
	}
	if !okB {
		var hops []string
		for _, line := range xff {
			for _, v := range strings.Split(line, ",") {
				hops = append(hops, strings.TrimSpace(v))
			}
		}
		b, okB = rightmostUntrusted(hops, nil, trusted)
	}
	switch {
	case !okA || !okB:
		return netip.Addr{}
	case len(fwd) == 0 && len(xff) == 0:
		return peer // the proxy forwarded nothing: it is the client
	case len(fwd) == 0:
		return b
	case len(xff) == 0 || a == b:
		return a
	}
	return netip.Addr{} // two chains that disagree: one of them is forged
}

// rightmostUntrusted walks hops from the right past trusted proxies. ok is
// false when the chain cannot be read or names its client by no address.
// When every hop is a trusted proxy, the left-most is the client.
func rightmostUntrusted(hops []string, err error, trusted []netip.Prefix) (netip.Addr, bool) {
	if err != nil || len(hops) == 0 {
		return netip.Addr{}, false
	}
	var a netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		var ok bool
		if a, ok = nodeAddr(hops[i]); !ok {
			return netip.Addr{}, false
		}
		if !inPrefixes(a, trusted) {
			return a, true
		}
	}
	return a, true
}

// nodeAddr reads a node of RFC 7239 §6 (or an X-Forwarded-For entry): an
// IPv4 address or a bracketed IPv6 address, either with an optional port;
// a bare IPv6 address is accepted too. "unknown" and obfuscated
// identifiers ("_hidden") are not addresses.
func nodeAddr(v string) (netip.Addr, bool) {
	host := v
	if strings.HasPrefix(v, "[") {
		end := strings.IndexByte(v, ']')
		if end < 0 || !validPort(v[end+1:]) {
			return netip.Addr{}, false
		}
		host = v[1:end]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	if i := strings.IndexByte(v, ':'); i >= 0 && strings.Count(v, ":") == 1 {
		if !validPort(v[i:]) {
			return netip.Addr{}, false
		}
		host = v[:i]
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// validPort accepts "" or ":" followed by a port number or an obfuscated
// port ("_abc").
func validPort(s string) bool {
	if s == "" {
		return true
	}
	if len(s) < 2 || s[0] != ':' {
		return false
	}
	p := s[1:]
	if p[0] == '_' {
		return len(p) > 1 && strings.IndexFunc(p[1:], func(r rune) bool { return !isTchar(r) }) < 0
	}
	return len(p) <= 5 && strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

var errForwarded = errors.New("malformed Forwarded header")

// ParseForwarded reads the Forwarded header's lines (RFC 7239 §4: a list
// of elements, each a ";"-separated list of token=value pairs, a value a
// token or a quoted-string) and returns each element's for= value, ""
// where an element has none, left to right. A malformed header is an
// error: nothing in it can be trusted.
func ParseForwarded(lines []string) ([]string, error) {
	var out []string
	for _, line := range lines {
		s := line
		for {
			forValue, hasFor := "", false
			seen := map[string]bool{}
			// One element: pairs separated by ";".
			for {
				s = strings.TrimLeft(s, " \t")
				if s == "" || s[0] == ',' {
					break // empty pair or element
				}
				if s[0] == ';' {
					s = s[1:]
					continue
				}
				i := strings.IndexFunc(s, func(r rune) bool { return !isTchar(r) })
				if i <= 0 || s[i] != '=' {
					return nil, errForwarded
				}
				key := strings.ToLower(s[:i])
				s = s[i+1:]
				var val string
				if s != "" && s[0] == '"' {
					var err error
					val, s, err = quotedString(s)
					if err != nil {
						return nil, err
					}
				} else {
					j := strings.IndexFunc(s, func(r rune) bool { return !isTchar(r) })
					if j < 0 {
						j = len(s)
					}
					if j == 0 {
						return nil, errForwarded
					}
					val, s = s[:j], s[j:]
				}
				if seen[key] {
					return nil, errForwarded // §4: a parameter at most once per element
				}
				seen[key] = true
				if key == "for" {
					forValue, hasFor = val, true
				}
				s = strings.TrimLeft(s, " \t")
				if s != "" && s[0] != ';' && s[0] != ',' {
					return nil, errForwarded
				}
			}
			if len(seen) > 0 {
				if !hasFor {
					forValue = ""
				}
				out = append(out, forValue)
			}
			if s == "" {
				break
			}
			s = s[1:] // the ","
		}
	}
	return out, nil
}

// quotedString reads a quoted-string (RFC 9110 §5.6.4) at the start of s
// and returns its value and the rest.
func quotedString(s string) (string, string, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), s[i+1:], nil
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", "", errForwarded
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errForwarded
}

// isTchar reports whether r is a token character (RFC 9110 §5.6.2).
func isTchar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
