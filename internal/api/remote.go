package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Remote backends: any OpenAI-compatible server (a vLLM or llama.cpp
// cluster, another ainative, a cloud API) can serve chosen model names
// through this server's APIs. Off by default; each model is opted in by
// name in the configuration, and every request served remotely is logged
// with its backend. A backend not marked public serves only callers the
// kernel identified (the Unix socket), never anonymous TCP callers.

// Backend is one remote server.
type Backend struct {
	Name string `json:"name"`
	// URL is the OpenAI-compatible base URL, ending in /v1.
	URL string `json:"url"`
	// APIKeyEnv names the environment variable holding the API key, sent
	// as a bearer token; the key itself is never in the file.
	APIKeyEnv string `json:"api_key_env,omitempty"`
	// Models maps the local model names it serves to its own names.
	Models map[string]string `json:"models"`
	// Public lets TCP callers, whose identity is unknown, use it.
	Public bool `json:"public,omitempty"`
	// Responses says the backend serves OpenAI's /v1/responses itself,
	// so requests to it are forwarded as they are. Not every
	// OpenAI-compatible server serves /v1/responses, or all of it, so by
	// default it is translated to the backend's /v1/chat/completions.
	Responses bool `json:"responses,omitempty"`
}

// BackendsConfig is the file of `serve --backends`.
type BackendsConfig struct {
	Backends []Backend `json:"backends"`
}

// LoadBackends reads and checks a backends file.
func LoadBackends(path string) (*BackendsConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))))
	dec.DisallowUnknownFields()
	var cfg BackendsConfig
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the JSON object", path)
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &cfg, nil
}

func (c *BackendsConfig) check() error {
	names, models := map[string]bool{}, map[string]string{}
	for i, b := range c.Backends {
		if b.Name == "" {
			return fmt.Errorf("backends[%d]: name is required", i)
		}
		if names[b.Name] {
			return fmt.Errorf("backend %q is listed twice", b.Name)
		}
		names[b.Name] = true
		u, err := url.Parse(b.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("backend %q: url %q is not an http(s) URL", b.Name, b.URL)
		}
		if len(b.Models) == 0 {
			return fmt.Errorf("backend %q: models is empty (each model served remotely is named)", b.Name)
		}
		for local, remote := range b.Models {
			if local == "" || remote == "" {
				return fmt.Errorf("backend %q: empty model name", b.Name)
			}
			if other, ok := models[local]; ok {
				return fmt.Errorf("model %q is served by two backends, %q and %q", local, other, b.Name)
			}
			models[local] = b.Name
		}
	}
	return nil
}

// lookup returns the backend serving model and its remote name.
func (c *BackendsConfig) lookup(model string) (*Backend, string) {
	if c == nil {
		return nil, ""
	}
	for i := range c.Backends {
		b := &c.Backends[i]
		if m, ok := b.Models[model]; ok {
			return b, m
		}
		if m, ok := b.Models[strings.TrimSuffix(model, ":latest")]; ok {
			return b, m
		}
	}
	return nil, ""
}

// remote routes a request for a remotely served model to its backend and
// any other to local. kind is the endpoint: "chat/completions",
// "completions" and "embeddings" (OpenAI's, proxied as they are),
// "ollama-chat" and "ollama-generate" (translated to OpenAI's and back:
// remote_ollama.go) or "responses" (proxied to a backend that declares
// it serves /v1/responses, else translated to its chat completions:
// remote_responses.go).
func (s *Server) remote(kind string, local http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Backends == nil || len(s.cfg.Backends.Backends) == 0 {
			local(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("reading the request: %v", err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var peek struct {
			Model string `json:"model"`
		}
		json.Unmarshal(body, &peek)
		b, remoteModel := s.cfg.Backends.lookup(peek.Model)
		if b == nil {
			local(w, r)
			return
		}
		if !b.Public && PeerCredFrom(r.Context()) == nil {
			writeError(w, http.StatusForbidden, fmt.Sprintf("model %q is served by remote backend %q, which is not open to unidentified (TCP) callers; use the Unix socket", peek.Model, b.Name))
			return
		}
		s.log.Info("remote request", "model", peek.Model, "backend", b.Name, "remote_model", remoteModel, "endpoint", r.URL.Path, "client", clientKey(r))
		switch {
		case kind == "ollama-chat":
			s.ollamaChatRemote(w, r, b, remoteModel)
		case kind == "ollama-generate":
			s.ollamaGenerateRemote(w, r, b, remoteModel)
		case kind == "responses" && !b.Responses:
			s.responsesRemote(w, r, b, remoteModel)
		default:
			s.proxy(w, r, body, b, remoteModel, "/"+kind)
		}
	}
}

// withModel returns body with its "model" replaced.
func withModel(body []byte, model string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	name, _ := json.Marshal(model)
	m["model"] = name
	return json.Marshal(m)
}

func (s *Server) backendRequest(ctx context.Context, b *Backend, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(b.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if b.APIKeyEnv != "" {
		if key := os.Getenv(b.APIKeyEnv); key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
	}
	return remoteClient.Do(req)
}

// remoteClient has no overall timeout (answers stream); connecting and
// the response headers are bounded.
var remoteClient = &http.Client{Transport: &http.Transport{
	Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: 5 * time.Minute, IdleConnTimeout: 90 * time.Second,
}}

// proxy forwards an OpenAI request as it is, with the remote model name,
// and copies the answer back, streamed or not.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, body []byte, b *Backend, remoteModel, path string) {
	out, err := withModel(body, remoteModel)
	if err != nil {
		openaiError(w, http.StatusBadRequest, "the request body is not a JSON object")
		return
	}
	resp, err := s.backendRequest(r.Context(), b, path, out)
	if err != nil {
		openaiError(w, http.StatusBadGateway, fmt.Sprintf("remote backend %q: %v", b.Name, err))
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Cache-Control"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

func remoteError(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		var s string
		var obj struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(e.Error, &s) == nil {
			return s
		}
		if json.Unmarshal(e.Error, &obj) == nil && obj.Message != "" {
			return obj.Message
		}
	}
	return strings.TrimSpace(string(body))
}
