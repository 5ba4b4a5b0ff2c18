// Package client lets a Go program use the ainative AI runtime: chat,
// generate, embed and manage models, over the runtime's Unix socket or
// TCP. The shell and the ainative commands use it exactly as any app does.
//
//	c, err := client.FromEnvironment()
//	...
//	err = c.Chat(ctx, &client.ChatRequest{
//		Model:    "qwen2.5:0.5b",
//		Messages: []client.Message{{Role: "user", Content: "Hello"}},
//	}, func(r client.ChatResponse) error {
//		fmt.Print(r.Message.Content)
//		return nil
//	})
//
// The wire format is Ollama's API, which the runtime serves.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultTCP is the runtime's default TCP address, Ollama's port.
const DefaultTCP = "127.0.0.1:11434"

// SystemSocket is the runtime's socket when it runs as a system service.
const SystemSocket = "/run/ainative/ai.sock"

// SocketPath is where the runtime of this user listens:
// $XDG_RUNTIME_DIR/ainative/ai.sock when XDG_RUNTIME_DIR is set, the
// system socket otherwise.
func SocketPath() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "ainative", "ai.sock")
	}
	return SystemSocket
}

// Client talks to a runtime. Its methods are safe for concurrent use.
type Client struct {
	base *url.URL
	http *http.Client
	addr string // what it connects to, for messages
}

// ErrNoRuntime is returned (wrapped) when no runtime answers.
var ErrNoRuntime = errors.New("no ainative runtime is running (start one with 'ainative serve' or 'ainative up')")

// FromEnvironment returns a client for AINATIVE_HOST when it is set (an
// address "host:port", a URL "http://host:port", or "unix:///path"),
// otherwise for the first of the user's socket, the system socket and
// 127.0.0.1:11434 that exists.
func FromEnvironment() (*Client, error) {
	if h := os.Getenv("AINATIVE_HOST"); h != "" {
		return New(h)
	}
	for _, p := range []string{SocketPath(), SystemSocket} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return New("unix://" + p)
		}
	}
	return New(DefaultTCP)
}

// New returns a client for addr: "host:port", "http(s)://host:port[/path]"
// or "unix:///path/to/socket".
func New(addr string) (*Client, error) {
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8, IdleConnTimeout: 90 * time.Second}
	c := &Client{http: &http.Client{Transport: tr}, addr: addr}
	switch {
	case strings.HasPrefix(addr, "unix://"):
		path := strings.TrimPrefix(addr, "unix://")
		if path == "" {
			return nil, fmt.Errorf("client: %q names no socket path", addr)
		}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		c.base = &url.URL{Scheme: "http", Host: "localhost"}
	case strings.HasPrefix(addr, "http://"), strings.HasPrefix(addr, "https://"):
		u, err := url.Parse(addr)
		if err != nil {
			return nil, fmt.Errorf("client: address %q: %w", addr, err)
		}
		c.base = u
	default:
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			// A bare host gets Ollama's port, as OLLAMA_HOST does.
			host, port = addr, "11434"
		}
		c.base = &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}
	}
	return c, nil
}

// Addr is the address the client connects to.
func (c *Client) Addr() string { return c.addr }

// StatusError is an error answer from the runtime.
type StatusError struct {
	StatusCode int
	Message    string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.StatusCode)
}

func (c *Client) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/x-ndjson")
	if caller, ok := callerFrom(ctx); ok {
		req.Header.Set(OnBehalfOfHeader, caller.Encode())
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			return nil, fmt.Errorf("%w: %s: %v", ErrNoRuntime, c.addr, opErr.Err)
		}
		return nil, err
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct {
			Error json.RawMessage `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && len(e.Error) > 0 {
			var s string
			var obj struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(e.Error, &s) == nil {
				msg = s
			} else if json.Unmarshal(e.Error, &obj) == nil {
				msg = obj.Message
			}
		}
		return nil, &StatusError{StatusCode: resp.StatusCode, Message: msg}
	}
	return resp, nil
}

// call sends a request and decodes a single JSON answer into out.
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// stream sends a request and calls fn with each line of the NDJSON
// answer; an {"error": ...} line ends the stream with that error.
func stream[T any](ctx context.Context, c *Client, path string, body any, fn func(T) error) error {
	resp, err := c.do(ctx, http.MethodPost, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(line, &e) == nil && e.Error != "" {
			return &StatusError{StatusCode: resp.StatusCode, Message: e.Error}
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return fmt.Errorf("client: bad line from the runtime: %w", err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}
