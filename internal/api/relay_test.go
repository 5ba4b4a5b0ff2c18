package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/raym33/ainative/client"
)

// unixRequest is a request as it arrives on the Unix socket from a peer
// the kernel identified as uid (nil cred: a TCP request).
func unixRequest(cred *PeerCred, header string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/chat", nil)
	ctx := r.Context()
	if cred != nil {
		ctx = context.WithValue(ctx, http.LocalAddrContextKey, &net.UnixAddr{Name: "/run/ainative/ai.sock", Net: "unix"})
		ctx = context.WithValue(ctx, peerCredKey{}, cred)
	}
	r = r.WithContext(ctx)
	if header != "" {
		r.Header.Set(client.OnBehalfOfHeader, header)
	}
	return r
}

func TestRelayTrust(t *testing.T) {
	if os.Geteuid() == 1000 {
		t.Skip("the untrusted peer of this test is uid 1000")
	}
	forged := client.Caller{UID: 4242, GID: 4242, PID: 7, Exe: "/usr/bin/a;b=c&d"}.Encode()
	for _, tc := range []struct {
		name      string
		relayUIDs []uint32
		cred      *PeerCred
		want      string
	}{
		{"root relays", nil, &PeerCred{UID: 0, PID: 1}, "uid:4242"},
		{"the daemon's own uid relays", nil, &PeerCred{UID: int32(os.Geteuid()), PID: 1}, "uid:4242"},
		{"another user is ignored", nil, &PeerCred{UID: 1000, PID: 1}, "uid:1000"},
		{"a TCP client is ignored", nil, nil, "192.0.2.1"},
		{"only the configured relay uids", []uint32{7}, &PeerCred{UID: 0, PID: 1}, "uid:0"},
		{"a configured relay uid", []uint32{1000}, &PeerCred{UID: 1000, PID: 1}, "uid:4242"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Config{RelayUIDs: tc.relayUIDs, Logger: slog.New(slog.DiscardHandler)})
			r, err := s.relay(unixRequest(tc.cred, forged))
			if err != nil {
				t.Fatal(err)
			}
			if got := clientKey(r); got != tc.want {
				t.Fatalf("client %q, want %q", got, tc.want)
			}
			rel := RelayedFrom(r.Context())
			if tc.want == "uid:4242" {
				if rel == nil || rel.Caller.Exe != "/usr/bin/a;b=c&d" || rel.Caller.PID != 7 || rel.Relay.UID != tc.cred.UID {
					t.Fatalf("relayed %+v", rel)
				}
			} else if rel != nil || r.Header.Get(client.OnBehalfOfHeader) != "" {
				t.Fatalf("untrusted header kept: %+v %q", rel, r.Header.Get(client.OnBehalfOfHeader))
			}
		})
	}
}

// A trusted relay that sends a malformed identity gets a 400 naming it.
func TestRelayMalformed(t *testing.T) {
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	for _, v := range []string{"gid=1", "uid=-1", "uid=x", "uid=4294967296", "uid=1&pid=2147483648", "uid=%zz", "uid=1&exe=" + strings.Repeat("a", maxRelayHeader)} {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, unixRequest(&PeerCred{UID: 0}, v))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), client.OnBehalfOfHeader) {
			t.Errorf("%q: %d %s, want 400 naming the header", v, w.Code, w.Body)
		}
	}
}

func FuzzParseCaller(f *testing.F) {
	for _, s := range []string{"uid=0", "uid=1000&gid=1000&pid=42&exe=%2Fusr%2Fbin%2Ffoo", "uid=1;exe=x", "", "uid=1&uid=2", "pid=-1&uid=3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c, err := ParseCaller(v)
		if err != nil {
			return
		}
		back, err := ParseCaller(c.Encode())
		if err != nil || back != c {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", v, c, c.Encode(), back, err)
		}
	})
}
