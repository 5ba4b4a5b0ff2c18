package initsys

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
)

// StatusAccess says who may read the status page over TCP. The page shows
// service command lines, environment-dependent state and logs, so by
// default only this machine (loopback) reads it freely; other addresses
// need the token. The Unix socket is not guarded: file permissions (a
// 0700 directory) protect it.
type StatusAccess struct {
	// Token admits any address that presents it: "Authorization: Bearer
	// TOKEN", ?token=TOKEN (which also sets a cookie, so the page's links
	// work in a browser) or that cookie. Empty admits nobody that way.
	Token string
	// Allow admits these peers without a token: `ainative vm`'s host-side
	// forward arrives from QEMU's user-network gateway (StatusAllowParam).
	Allow []netip.Prefix
	// Public admits everyone without a token (Config.Status.Public).
	Public bool
}

// StatusAllowParam is the kernel parameter listing addresses (IPs or
// CIDR prefixes, comma-separated) admitted to the status page without a
// token. `ainative vm` passes its forward's source, QEMU's 10.0.2.2.
const StatusAllowParam = "ainative.status_allow"

// tokenCookie carries the token in a browser after ?token=.
const tokenCookie = "ainative_status_token"

// NewStatusToken returns a random token for StatusAccess.
func NewStatusToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// Guard wraps the status handler with the access rules and a check of the
// Host header: a web page can make a browser send requests to this
// machine through a name it controls (DNS rebinding) and read the
// answers, but the Host header then carries that name. Only IP
// addresses, "localhost" and this machine's host name are accepted.
func (a StatusAccess) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host) {
			writeJSON(w, http.StatusMisdirectedRequest, map[string]string{
				"error": fmt.Sprintf("Host %q is not an address or name of this machine; use its IP address", r.Host),
			})
			return
		}
		if a.admits(r) {
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query().Get("token"); q != "" && a.tokenOK(q) {
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="ainative status"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "the status page needs a token from this address: the machine prints it on its console " +
				"(in the image also in " + TokenPath + "); send it as ?token=TOKEN or an Authorization: Bearer header",
		})
	})
}

// admits reports whether r may pass without ?token=.
func (a StatusAccess) admits(r *http.Request) bool {
	if a.Public {
		return true
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		addr := ap.Addr().Unmap()
		if addr.IsLoopback() {
			return true
		}
		for _, p := range a.Allow {
			if p.Contains(addr) {
				return true
			}
		}
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && a.tokenOK(tok) {
		return true
	}
	if c, err := r.Cookie(tokenCookie); err == nil && a.tokenOK(c.Value) {
		return true
	}
	return false
}

func (a StatusAccess) tokenOK(tok string) bool {
	return a.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.Token)) == 1
}

// hostAllowed accepts a Host header naming this machine: an IP literal,
// localhost, or the host name. Empty (HTTP/1.0) is accepted: a browser
// always sends one.
func hostAllowed(host string) bool {
	if host == "" {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	name, err := os.Hostname()
	return err == nil && name != "" && host == strings.ToLower(name)
}

// parseAllow reads StatusAllowParam's value: IPs or prefixes, comma-separated.
func parseAllow(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(v, ",") {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or prefix", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
