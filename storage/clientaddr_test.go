package storage

import (
	"net/http"
	"net/netip"
	"reflect"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name string
		peer string
		fwd  []string
		xff  []string
		want string // "" for no address
	}{
		{"untrusted peer: headers ignored", "203.0.113.9:5000", []string{"for=198.51.100.1"}, []string{"198.51.100.2"}, "203.0.113.9"},
		{"trusted peer, nothing forwarded", "10.0.0.2:5000", nil, nil, "10.0.0.2"},
		{"X-Forwarded-For", "10.0.0.2:5000", nil, []string{"198.51.100.7, 10.0.0.3"}, "198.51.100.7"},
		{"X-Forwarded-For: client's forged entry left of the real one", "10.0.0.2:5000", nil, []string{"1.2.3.4, 198.51.100.7"}, "198.51.100.7"},
		{"Forwarded", "10.0.0.2:5000", []string{"for=198.51.100.7"}, nil, "198.51.100.7"},
		{"Forwarded quoted with port", "10.0.0.2:5000", []string{`for="198.51.100.7:4711"`}, nil, "198.51.100.7"},
		{"Forwarded IPv6 with port", "10.0.0.2:5000", []string{`for="[2001:db8:cafe::17]:4711"`}, nil, "2001:db8:cafe::17"},
		{"Forwarded IPv6", "10.0.0.2:5000", []string{`For="[2001:db8::1]"`}, nil, "2001:db8::1"},
		{"Forwarded several elements and pairs", "10.0.0.2:5000",
			[]string{`for=1.2.3.4;proto=http, for=198.51.100.7;by="[fd00::1]";proto=https;host="a,b;c"`, `for=10.0.0.3`}, nil, "198.51.100.7"},
		{"Forwarded over two lines", "10.0.0.2:5000", []string{"for=1.2.3.4", "for=198.51.100.8"}, nil, "198.51.100.8"},
		{"Forwarded trusted hops skipped", "10.0.0.2:5000", []string{`for=198.51.100.7, for="[fd00::5]:80", for=10.1.1.1`}, nil, "198.51.100.7"},
		{"Forwarded unknown client", "10.0.0.2:5000", []string{"for=198.51.100.7, for=unknown"}, nil, ""},
		{"Forwarded obfuscated client", "10.0.0.2:5000", []string{"for=_hidden"}, nil, ""},
		{"Forwarded without for", "10.0.0.2:5000", []string{"proto=https"}, nil, ""},
		{"Forwarded malformed", "10.0.0.2:5000", []string{`for="198.51.100.7`}, nil, ""},
		{"Forwarded repeated parameter", "10.0.0.2:5000", []string{"for=1.2.3.4;for=198.51.100.7"}, nil, ""},
		{"Forwarded unbracketed IPv6 with port", "10.0.0.2:5000", []string{`for="2001:db8::1:80"`}, nil, "2001:db8::1:80"},
		{"Forwarded bad port", "10.0.0.2:5000", []string{`for="198.51.100.7:http"`}, nil, ""},
		{"both headers agree", "10.0.0.2:5000", []string{"for=198.51.100.7"}, []string{"198.51.100.7"}, "198.51.100.7"},
		{"both headers disagree: one is forged", "10.0.0.2:5000", []string{"for=1.2.3.4"}, []string{"198.51.100.7"}, ""},
		{"only trusted hops", "10.0.0.2:5000", nil, []string{"10.9.9.9, 10.0.0.3"}, "10.9.9.9"},
		{"X-Forwarded-For unparseable", "10.0.0.2:5000", nil, []string{"198.51.100.7, junk"}, ""},
		{"IPv4-mapped", "[::ffff:10.0.0.2]:5000", nil, []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.peer, Header: http.Header{}}
			for _, v := range tt.fwd {
				r.Header.Add("Forwarded", v)
			}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := ClientAddr(r, trusted)
			want := netip.Addr{}
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want {
				t.Errorf("ClientAddr = %v, want %v", got, want)
			}
		})
	}
}

func TestParseForwarded(t *testing.T) {
	got, err := ParseForwarded([]string{`for=192.0.2.43, for="[2001:db8:cafe::17]";proto=https, proto=http`, `for="_gazonk"`})
	if want := []string{"192.0.2.43", "[2001:db8:cafe::17]", "", "_gazonk"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseForwarded = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{`for`, `for=`, `=x`, `for="a`, `for=a b`, `for=a;;x`, "for=\"a\x01\""} {
		if _, err := ParseForwarded([]string{bad}); err == nil && bad != `for=a;;x` {
			t.Errorf("ParseForwarded(%q): no error", bad)
		}
	}
}

func FuzzParseForwarded(f *testing.F) {
	f.Add(`for=192.0.2.43, for="[2001:db8:cafe::17]:4711";proto=https`)
	f.Add(`for="\"\\";by=_x`)
	f.Fuzz(func(t *testing.T, s string) {
		hops, err := ParseForwarded([]string{s})
		if err != nil && hops != nil {
			t.Fatalf("ParseForwarded(%q) = %q with error %v", s, hops, err)
		}
		r := &http.Request{RemoteAddr: "10.0.0.1:1", Header: http.Header{"Forwarded": {s}}}
		ClientAddr(r, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	})
}

func TestProxiesHeader(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	r := &http.Request{RemoteAddr: "10.0.0.2:5000", Header: http.Header{
		"Forwarded":       {"for=198.51.100.7"},
		"X-Forwarded-For": {"203.0.113.9"},
	}}
	for _, tt := range []struct{ header, want string }{
		{"", ""}, // both, disagreeing: unknown
		{HeaderForwarded, "198.51.100.7"},
		{HeaderXForwardedFor, "203.0.113.9"},
	} {
		got := Proxies{Trusted: trusted, Header: tt.header}.ClientAddr(r)
		want := netip.Addr{}
		if tt.want != "" {
			want = netip.MustParseAddr(tt.want)
		}
		if got != want {
			t.Errorf("Header %q: ClientAddr = %v, want %v", tt.header, got, want)
		}
	}
}
