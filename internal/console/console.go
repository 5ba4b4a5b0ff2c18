// Package console serves ainative's web console: a small page, embedded in
// the binary (no Node toolchain at build time), to chat with a model
// (streamed, with a model picker and a stop button) and see the loaded
// models. The page talks to the daemon's own Ollama-compatible API on the
// same origin; this package serves the page and decides who may load it:
// loopback clients always, others only with the console token.
//
// A user's own session (see Panel and SessionHandler) adds their part of
// the AI bus (context items, audit log, consent requests answered in the
// page) and the init system's services and logs.
package console

import (
	"crypto/subtle"
	"embed"
	"io/fs"
	"net"
	"net/http"
	"strings"
)

//go:embed web
var web embed.FS

// Prefix is the path the console is mounted at.
const Prefix = "/console/"

const cookieName = "ainative_console"

// Config configures the console.
type Config struct {
	// Token, when not empty, admits clients that are not on loopback:
	// they open /console/?token=TOKEN once, which sets a cookie. Empty
	// keeps the console loopback only.
	Token string
	// Panel, when set, adds its user's bus panel (context, audit,
	// consent) to the page, for sessions opened with its one-time
	// token: /console/?session=TOKEN.
	Panel *Panel
	// System, when set with Panel, is the init system's status server
	// (its /status and /logs), shown to panel sessions only under
	// Prefix+"system/": services' command lines and logs are not for
	// every loopback client.
	System http.Handler
}

// New returns the console's handler, to be mounted at Prefix.
func New(cfg Config) http.Handler {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	files := http.StripPrefix(Prefix, http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bus := cfg.Panel != nil && strings.HasPrefix(r.URL.Path, Prefix+"bus/")
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !bus {
			http.Error(w, "the console serves only GET", http.StatusMethodNotAllowed)
			return
		}
		if !loopback(r.RemoteAddr) {
			switch {
			case cfg.Token == "":
				http.Error(w, "the web console is served to loopback clients only (give the daemon a console token to open it to others)", http.StatusForbidden)
				return
			case r.URL.Query().Has("token"):
				if !equal(r.URL.Query().Get("token"), cfg.Token) {
					http.Error(w, "wrong console token", http.StatusForbidden)
					return
				}
				http.SetCookie(w, &http.Cookie{Name: cookieName, Value: cfg.Token, Path: Prefix,
					HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
				// Drop the token from the address bar and history.
				http.Redirect(w, r, Prefix, http.StatusSeeOther)
				return
			default:
				c, err := r.Cookie(cookieName)
				if err != nil || !equal(c.Value, cfg.Token) {
					http.Error(w, "the web console needs its token: open "+Prefix+"?token=TOKEN", http.StatusUnauthorized)
					return
				}
			}
		}
		if bus {
			cfg.Panel.serve(w, r)
			return
		}
		if rest, ok := strings.CutPrefix(r.URL.Path, Prefix+"system/"); ok && cfg.Panel != nil {
			switch {
			case !cfg.Panel.hasSession(r):
				http.Error(w, "services and logs need a console session: open the URL that 'ainative console --session' printed", http.StatusUnauthorized)
			case cfg.System == nil || (rest != "status" && rest != "logs"):
				http.Error(w, "no init system status here", http.StatusNotFound)
			default:
				r2 := r.Clone(r.Context())
				r2.URL.Path = "/" + rest
				r2.Header.Del("Cookie")
				cfg.System.ServeHTTP(w, r2)
			}
			return
		}
		if cfg.Panel != nil && r.URL.Query().Has("session") {
			id, ok := cfg.Panel.redeem(r.URL.Query().Get("session"))
			if !ok {
				http.Error(w, "this console session token is wrong or was used already: run 'ainative console' again", http.StatusForbidden)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: Prefix,
				HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			http.Redirect(w, r, Prefix, http.StatusSeeOther)
			return
		}
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// loopback reports whether a request's remote address is on loopback; a
// Unix socket's (empty or "@") counts, as only local users reach it.
func loopback(remote string) bool {
	if remote == "" || remote == "@" || strings.HasPrefix(remote, "/") {
		return true
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
