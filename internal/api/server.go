// Package api serves the AI runtime over HTTP with the APIs that existing
// clients speak: Ollama's (/api/...), OpenAI's (/v1/...) and llama-server's
// extras (/tokenize, /detokenize, /apply-template), plus /health and
// /metrics. It decodes and validates requests (a clear 4xx naming what is
// wrong), renders chat templates, compiles output constraints and hands
// token sequences to package runtime, which knows nothing of HTTP.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/raym33/ainative/internal/runtime"
)

// Version is the version /api/version reports. Ollama's clients compare it
// against their own, so it follows Ollama's numbering of the API it
// implements.
const Version = "0.17.4"

// maxBody bounds a request body: prompts and chats are text, so 32 MiB is
// far beyond any context and still a bound.
const maxBody = 32 << 20

// Config configures a Server.
type Config struct {
	Runtime *runtime.Runtime
	// Models manages the model store (list, show, pull, copy, delete);
	// nil serves only inference.
	Models Models
	// Origins are the browser origins allowed cross-origin requests, as
	// OLLAMA_ORIGINS; loopback origins are always allowed. "*" allows all.
	Origins []string
	// Hosts are extra Host header values accepted besides loopback names
	// and the listening addresses (DNS rebinding protection); "*" accepts
	// any.
	Hosts []string
	// ModelsDir, if set, holds GGUF files served by name beside the
	// store's models (DirSource); /api/tags lists them.
	ModelsDir string
	// Backends are the remote servers that serve chosen model names;
	// nil: none (the default).
	Backends *BackendsConfig
	// RelayUIDs are the uids whose Unix-socket requests may name the
	// process they relay for (client.OnBehalfOfHeader, sent by the AI
	// bus); nil means root and the daemon's own uid.
	RelayUIDs []uint32
	// AdminOverTCP lets TCP clients, whose identity is unknown, pull,
	// delete and copy models. On the Unix socket the caller's uid decides.
	AdminOverTCP bool
	// WriteTimeout bounds each write of a streamed response: a client
	// that stops reading for this long loses its request (and its
	// sequence slot). 0: 30 s.
	WriteTimeout time.Duration
	Logger       *slog.Logger
	// Console, when set, is the web console's handler, served under
	// /console/ (see internal/console).
	Console http.Handler
}

// Server is the HTTP front of a Runtime.
type Server struct {
	cfg Config
	rt  *runtime.Runtime
	log *slog.Logger
	mux *http.ServeMux
}

// New returns a Server; Handler serves it.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	s := &Server{cfg: cfg, rt: cfg.Runtime, log: cfg.Logger, mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) routes() {
	h := s.mux.HandleFunc
	h("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ainative is running\n") })
	h("HEAD /{$}", func(w http.ResponseWriter, r *http.Request) {})
	h("GET /health", s.health)
	h("GET /metrics", s.metrics)

	h("POST /api/generate", s.remote("ollama-generate", s.ollamaGenerate))
	h("POST /api/chat", s.remote("ollama-chat", s.ollamaChat))
	h("POST /api/embed", s.ollamaEmbed)
	h("POST /api/embeddings", s.ollamaEmbeddings)
	h("GET /api/tags", s.ollamaTags)
	h("POST /api/show", s.ollamaShow)
	h("POST /api/pull", s.ollamaPull)
	h("DELETE /api/delete", s.ollamaDelete)
	h("POST /api/copy", s.ollamaCopy)
	h("GET /api/ps", s.ollamaPs)
	h("GET /api/version", s.ollamaVersion)
	h("HEAD /api/version", s.ollamaVersion)

	h("POST /v1/chat/completions", s.remote("chat/completions", s.openaiChat))
	h("POST /v1/completions", s.remote("completions", s.openaiCompletions))
	h("GET /v1/models", s.openaiModels)
	h("GET /v1/models/{model...}", s.openaiModel)
	h("POST /v1/embeddings", s.remote("embeddings", s.openaiEmbeddings))
	h("POST /v1/responses", s.remote("responses", s.openaiResponses))

	h("POST /tokenize", s.llamaTokenize)
	h("POST /detokenize", s.llamaDetokenize)
	h("POST /apply-template", s.llamaApplyTemplate)

	if s.cfg.Console != nil {
		s.mux.Handle("/console/", s.cfg.Console)
	}
}

// Handler returns the server's handler with its protections: Host header
// check, CORS for the allowed origins, body limit, panic recovery and a
// log line per request.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "path", r.URL.Path, "panic", v)
				writeError(w, http.StatusInternalServerError, fmt.Sprintf("internal error: %v", v))
			}
		}()
		if !s.hostAllowed(r) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("host %q is not allowed (DNS rebinding protection; set AINATIVE_HOSTS to allow it)", r.Host))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			if !s.originAllowed(origin) {
				writeError(w, http.StatusForbidden, fmt.Sprintf("origin %q is not allowed (set AINATIVE_ORIGINS to allow it)", origin))
				return
			}
			hdr := w.Header()
			hdr.Set("Access-Control-Allow-Origin", origin)
			hdr.Add("Vary", "Origin")
			if r.Method == http.MethodOptions {
				hdr.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
				hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, User-Agent, Accept, X-Requested-With, OpenAI-Beta, X-Stainless-Lang, X-Stainless-Package-Version, X-Stainless-OS, X-Stainless-Arch, X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Retry-Count, X-Stainless-Timeout")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		r, err := s.relay(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		sw := &statusWriter{ResponseWriter: w}
		s.mux.ServeHTTP(sw, r)
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start), "client", clientKey(r))
	})
}

// hostAllowed accepts loopback names and addresses, the configured hosts,
// and any Host on a Unix socket (no browser reaches one). A web page
// resolving its own name to 127.0.0.1 sends that name, which is refused.
func (s *Server) hostAllowed(r *http.Request) bool {
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && la.Network() == "unix" {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "" || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		return true
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if h, _, err := net.SplitHostPort(la.String()); err == nil && h == host {
			return true // the address the client connected to
		}
	}
	for _, h := range s.cfg.Hosts {
		if h == "*" || strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.cfg.Origins {
		if o == "*" || o == origin {
			return true
		}
		if strings.HasSuffix(o, "*") && strings.HasPrefix(origin, strings.TrimSuffix(o, "*")) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "http", "https", "app", "tauri", "vscode-webview":
	default:
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if err := s.rt.WritePrometheus(w); err != nil {
		s.log.Debug("metrics write", "err", err)
	}
}

// decode reads a JSON request body into v. Unknown fields are ignored, as
// the APIs it implements ignore them; a missing Content-Type is accepted,
// as Ollama accepts it. Trailing data after the object is an error.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return errors.New("the request body is empty; a JSON object is required")
		case errors.As(err, &mbe):
			return fmt.Errorf("the request body is larger than %d bytes", mbe.Limit)
		case errors.As(err, &se):
			return fmt.Errorf("the request body is not valid JSON: %v (at byte %d)", err, se.Offset)
		case errors.As(err, &te):
			field := te.Field
			if field == "" {
				field = "the body"
			}
			return fmt.Errorf("field %q: %s is not allowed here (want %s)", field, te.Value, te.Type)
		}
		return fmt.Errorf("the request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return errors.New("the request body has data after its JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("the request body has data after its JSON object")
	}
	return nil
}

// decodeForModel decodes a request that must name a model into v; model
// points at v's model field. Older Ollama clients name it "name": alias,
// if not nil, points at that field and stands in when model is empty.
// Its errors carry status 400.
func decodeForModel(r *http.Request, v any, model, alias *string) error {
	if err := decode(r, v); err != nil {
		return &requestError{http.StatusBadRequest, err.Error()}
	}
	if *model == "" && alias != nil {
		*model = *alias
	}
	if *model == "" {
		return badRequest("model is required")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers with Ollama's error shape, {"error": "..."}.
func writeError(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

// statusOf maps a runtime error to an HTTP status.
func statusOf(err error) int {
	var tooLong *runtime.PromptTooLongError
	var bad *runtime.BadRequestError
	var reqErr *requestError
	switch {
	case errors.As(err, &reqErr):
		return reqErr.status
	case errors.As(err, &tooLong), errors.As(err, &bad):
		return http.StatusBadRequest
	case errors.Is(err, runtime.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, runtime.ErrQueueFull), errors.Is(err, runtime.ErrNoMemory), errors.Is(err, runtime.ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return 499 // the client went away; nobody reads this
	}
	return http.StatusInternalServerError
}

// requestError is an error with its HTTP status.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// streamWriter writes a streamed response one chunk at a time, flushing
// each and bounding how long a write may block.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	started bool
}

func (s *Server) newStream(w http.ResponseWriter, contentType string) *streamWriter {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	return &streamWriter{w: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout}
}

func (sw *streamWriter) write(p []byte) error {
	sw.rc.SetWriteDeadline(time.Now().Add(sw.timeout))
	if !sw.started {
		sw.started = true
		sw.w.WriteHeader(http.StatusOK)
	}
	if _, err := sw.w.Write(p); err != nil {
		return err
	}
	return sw.rc.Flush()
}

// ndjson writes v as one line of JSON.
func (sw *streamWriter) ndjson(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return sw.write(append(b, '\n'))
}

// sse writes v as a server-sent event's data.
func (sw *streamWriter) sse(event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var buf []byte
	if event != "" {
		buf = append(buf, "event: "...)
		buf = append(buf, event...)
		buf = append(buf, '\n')
	}
	buf = append(buf, "data: "...)
	buf = append(buf, b...)
	buf = append(buf, "\n\n"...)
	return sw.write(buf)
}

// clientKey names the client for the scheduler's fairness: the uid on
// the Unix socket (the relayed caller's when a trusted relay names one,
// so a user's direct and bus-relayed requests count together), the
// address on TCP.
func clientKey(r *http.Request) string {
	if rel := RelayedFrom(r.Context()); rel != nil {
		return "uid:" + strconv.FormatUint(uint64(rel.Caller.UID), 10)
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && la.Network() == "unix" {
		if cred, ok := r.Context().Value(peerCredKey{}).(*PeerCred); ok && cred != nil {
			return "uid:" + strconv.Itoa(int(cred.UID))
		}
		return "unix"
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func ptr[T any](v T) *T { return &v }
