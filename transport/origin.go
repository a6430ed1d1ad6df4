package transport

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// OriginPolicy decides which browser origins may open a connection, from an
// allow-list whose entries are "*", scheme://host[:port] or host[:port] (any
// scheme). An empty list means same origin only. Both the WebSocket and the
// WebTransport server use it, so one allow-list serves both transports.
type OriginPolicy struct {
	allowed []allowedOrigin
	anyPort bool
}

type allowedOrigin struct {
	any    bool
	scheme string // "" matches any scheme
	host   string // host[:port], lower case
}

// NewOriginPolicy parses an allow-list. With sameHostAnyPort, an empty list
// accepts any origin on the request's host name whatever its port and scheme
// (WebTransport listens on another port than the page it serves). A bad entry
// is an error matching ErrInvalidConfig.
func NewOriginPolicy(origins []string, sameHostAnyPort bool) (OriginPolicy, error) {
	p := OriginPolicy{anyPort: sameHostAnyPort}
	for _, s := range origins {
		a, err := parseAllowedOrigin(s)
		if err != nil {
			return OriginPolicy{}, err
		}
		p.allowed = append(p.allowed, a)
	}
	return p, nil
}

func parseAllowedOrigin(s string) (allowedOrigin, error) {
	if s == "*" {
		return allowedOrigin{any: true}, nil
	}
	bad := func(why string) (allowedOrigin, error) {
		return allowedOrigin{}, fmt.Errorf("%w: AllowedOrigins entry %q: %s", ErrInvalidConfig, s, why)
	}
	if !strings.Contains(s, "://") {
		if s == "" || strings.ContainsAny(s, "/?#@ ") {
			return bad("want \"*\", scheme://host[:port] or host[:port]")
		}
		return allowedOrigin{host: strings.ToLower(s)}, nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return bad(err.Error())
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("scheme must be http or https")
	case u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return bad("want scheme://host[:port] only")
	}
	return allowedOrigin{scheme: u.Scheme, host: strings.ToLower(u.Host)}, nil
}

// Allows reports whether a request with the given Origin header values and
// Host may connect. No Origin header means no browser, which is allowed;
// the opaque origin "null" is not.
func (p OriginPolicy) Allows(origins []string, host string) bool {
	if len(origins) == 0 {
		return true // not a browser: browsers always send Origin on these requests
	}
	u, err := url.Parse(origins[0])
	if err != nil || u.Host == "" {
		return false // includes the opaque origin "null"
	}
	if len(p.allowed) == 0 {
		if p.anyPort {
			return strings.EqualFold(u.Hostname(), hostname(host))
		}
		return strings.EqualFold(u.Host, host)
	}
	for _, a := range p.allowed {
		if a.any || (strings.EqualFold(u.Host, a.host) && (a.scheme == "" || strings.EqualFold(u.Scheme, a.scheme))) {
			return true
		}
	}
	return false
}

func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}
