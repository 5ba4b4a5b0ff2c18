package console

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"

	"github.com/raym33/ainative/internal/atomicfile"
)

// SessionHandler serves one user's console session: the page with the
// user's bus panel, and the model API (/api/) passed on to the daemon at
// daemon, so that the page's chat and model list work from the same
// origin. It is served by a process of that user (`ainative console
// --session`), which is what ties the panel to the user. With
// statusSocket (the init system's status server, as `ainative logs`
// reaches it) the page also shows the services and their logs; a socket
// that does not answer leaves that part out.
func SessionHandler(p *Panel, daemon *url.URL, statusSocket string) http.Handler {
	cfg := Config{Panel: p}
	if statusSocket != "" {
		cfg.System = statusProxy(statusSocket)
	}
	mux := http.NewServeMux()
	mux.Handle(Prefix, New(cfg))
	proxy := httputil.NewSingleHostReverseProxy(daemon)
	proxy.FlushInterval = -1 // chat answers stream
	mux.Handle("/api/", proxy)
	return mux
}

// statusProxy passes requests on to the status server on its Unix socket.
func statusProxy(socket string) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host, r.Out.Host = "http", "ainative", "ainative"
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
}

// TokenPath is where the one-time session URL is written:
// $XDG_RUNTIME_DIR/ainative/console-token, in the user's runtime
// directory that only the user can enter.
func TokenPath() (string, error) {
	d := os.Getenv("XDG_RUNTIME_DIR")
	if d == "" {
		return "", errors.New("console session: XDG_RUNTIME_DIR is not set, so there is no private place for its token")
	}
	return filepath.Join(d, "ainative", "console-token"), nil
}

// WriteToken writes the session's one-time URL to path, readable by its
// owner only (mode 0600, in a directory of mode 0700 it creates).
func WriteToken(path, sessionURL string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, 0o600, []byte(sessionURL+"\n"))
}
