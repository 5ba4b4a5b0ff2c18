package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"

	"github.com/raym33/ainative/client"
)

// Relayed identity: the AI bus forwards ai.chat for the process that asked
// it, and names that process in client.OnBehalfOfHeader so that the
// scheduler's fairness counts the process, not the bus. Only a peer the
// kernel identifies on the Unix socket as a trusted relay may name
// another caller; the header from anyone else (any other uid, any TCP
// client) is dropped, so a client cannot borrow another's identity.

// Relayed is the originator a trusted relay named, and the relay.
type Relayed struct {
	Caller client.Caller
	Relay  PeerCred
}

type relayedKey struct{}

// RelayedFrom returns the relayed originator of the request, or nil.
func RelayedFrom(ctx context.Context) *Relayed {
	r, _ := ctx.Value(relayedKey{}).(*Relayed)
	return r
}

// maxRelayHeader bounds the header (an executable path and three numbers).
const maxRelayHeader = 4096

// trustedRelay reports whether the peer may name the caller it relays
// for: root, or the daemon's own uid (a process of that uid can already
// do anything the daemon can), unless Config.RelayUIDs says otherwise.
func (s *Server) trustedRelay(cred *PeerCred) bool {
	if cred == nil {
		return false
	}
	if s.cfg.RelayUIDs != nil {
		return slices.Contains(s.cfg.RelayUIDs, uint32(cred.UID))
	}
	return cred.UID == 0 || int(cred.UID) == os.Geteuid()
}

// relay applies the on-behalf-of header: from a trusted relay it puts the
// named caller in the request's context (a malformed value is an error);
// from anyone else it is removed and ignored.
func (s *Server) relay(r *http.Request) (*http.Request, error) {
	v := r.Header.Get(client.OnBehalfOfHeader)
	if v == "" {
		return r, nil
	}
	cred := PeerCredFrom(r.Context())
	if !s.trustedRelay(cred) {
		r.Header.Del(client.OnBehalfOfHeader)
		s.log.Debug("ignoring "+client.OnBehalfOfHeader+" from an untrusted peer", "client", clientKey(r))
		return r, nil
	}
	caller, err := ParseCaller(v)
	if err != nil {
		return r, err
	}
	return r.WithContext(context.WithValue(r.Context(), relayedKey{}, &Relayed{Caller: caller, Relay: *cred})), nil
}

// ParseCaller decodes client.Caller.Encode's value; uid is required.
func ParseCaller(v string) (client.Caller, error) {
	var c client.Caller
	if len(v) > maxRelayHeader {
		return c, fmt.Errorf("%s: %d bytes, more than %d", client.OnBehalfOfHeader, len(v), maxRelayHeader)
	}
	q, err := url.ParseQuery(v)
	if err != nil {
		return c, fmt.Errorf("%s: %v", client.OnBehalfOfHeader, err)
	}
	num := func(key string, bits int, required bool) (uint64, error) {
		s := q.Get(key)
		if s == "" {
			if required {
				return 0, fmt.Errorf("%s: %s is required", client.OnBehalfOfHeader, key)
			}
			return 0, nil
		}
		n, err := strconv.ParseUint(s, 10, bits)
		if err != nil {
			return 0, fmt.Errorf("%s: %s %q is not a number below 2^%d", client.OnBehalfOfHeader, key, s, bits)
		}
		return n, nil
	}
	uid, err := num("uid", 32, true)
	if err != nil {
		return c, err
	}
	gid, err := num("gid", 32, false)
	if err != nil {
		return c, err
	}
	pid, err := num("pid", 31, false)
	if err != nil {
		return c, err
	}
	return client.Caller{UID: uint32(uid), GID: uint32(gid), PID: int32(pid), Exe: q.Get("exe")}, nil
}
