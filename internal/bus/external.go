package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	busapi "github.com/raym33/ainative/client/bus"
)

// Limits of external MCP servers' tools and answers.
const (
	// MaxExternalTools is how many tools one server may offer; the rest
	// are left out (and logged).
	MaxExternalTools = 256
	// MaxExternalOutput caps the text of one tool result.
	MaxExternalOutput = 64 << 10
	// MaxExternalMessage caps one JSON-RPC message from a stdio server.
	MaxExternalMessage = 4 << 20
	// maxExternalSchema caps a tool's input schema, maxExternalDesc its
	// description.
	maxExternalSchema = 64 << 10
	maxExternalDesc   = 4 << 10
	// externalKeepAlive pings each server; one that stops answering is
	// dropped and reconnected.
	externalKeepAlive = 15 * time.Second
	// Reconnection back-off: doubling from the first to the last; a
	// session that lived longer than backoffReset starts again from the
	// first.
	backoffFirst = time.Second
	backoffLast  = time.Minute
	backoffReset = time.Minute
	// minStartTimeout is the least time a server gets to start and list
	// its tools.
	minStartTimeout = 30 * time.Second
)

// States of an external server, as MCPStatus reports them.
const (
	StateStarting  = "starting"
	StateConnected = "connected"
	StateFailed    = "failed"
)

// externalToolName is what a namespaced external tool name must look like
// (MCP allows A-Z a-z 0-9 _ . - and clients expect at most 128).
var externalToolName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,127}$`)

// externals supervises the bus's external MCP servers.
type externals struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	servers []*extServer
}

// extServer is one supervised external server.
type extServer struct {
	s   *Server
	cfg MCPServer
	log *slog.Logger

	mu       sync.Mutex
	state    string
	lastErr  string
	tools    int
	restarts int
	since    time.Time
}

// startExternal connects to every configured server in the background;
// a server that fails is retried with back-off and never stops the bus.
func (s *Server) startExternal(servers []MCPServer) *externals {
	ctx, cancel := context.WithCancel(context.Background())
	x := &externals{cancel: cancel}
	for _, cfg := range servers {
		e := &extServer{s: s, cfg: cfg, log: s.log.With("mcp_server", cfg.Name), state: StateStarting, since: time.Now()}
		x.servers = append(x.servers, e)
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			e.supervise(ctx)
		}()
	}
	return x
}

// stop ends every session, stops the stdio servers and waits for them.
func (x *externals) stop() {
	if x == nil {
		return
	}
	x.cancel()
	x.wg.Wait()
}

// MCPStatus reports the external MCP servers, in config order.
func (s *Server) MCPStatus() []busapi.MCPServerStatus {
	out := []busapi.MCPServerStatus{}
	if s.ext == nil {
		return out
	}
	for _, e := range s.ext.servers {
		e.mu.Lock()
		st := busapi.MCPServerStatus{Name: e.cfg.Name, Transport: "stdio", State: e.state, Error: e.lastErr,
			Tools: e.tools, Restarts: e.restarts, Since: e.since.UTC()}
		e.mu.Unlock()
		if e.cfg.URL != "" {
			st.Transport = "http"
		}
		out = append(out, st)
	}
	return out
}

func (e *extServer) set(state string, err error, tools int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if state != e.state {
		e.since = time.Now()
	}
	e.state = state
	e.tools = tools
	e.lastErr = ""
	if err != nil {
		e.lastErr = err.Error()
	}
}

// supervise keeps the server connected until ctx ends.
func (e *extServer) supervise(ctx context.Context) {
	backoff := backoffFirst
	for {
		start := time.Now()
		err := e.connect(ctx)
		e.s.setExternalTools(e.cfg.Name, nil)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > backoffReset {
			backoff = backoffFirst
		}
		e.set(StateFailed, err, 0)
		e.log.Warn("bus: MCP server down; retrying", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, backoffLast)
		e.mu.Lock()
		e.restarts++
		e.mu.Unlock()
	}
}

// connect runs one session: start (or reach) the server, list its tools,
// and follow it until it dies or ctx ends. It returns why it ended.
func (e *extServer) connect(ctx context.Context) error {
	changed := make(chan struct{}, 1)
	client := mcp.NewClient(&mcp.Implementation{Name: "ainative-bus", Version: "1"}, &mcp.ClientOptions{
		Logger:       slog.New(slog.DiscardHandler),
		Capabilities: &mcp.ClientCapabilities{},
		KeepAlive:    externalKeepAlive,
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	})
	var transport mcp.Transport
	var proc *extProcess
	if e.cfg.Command != "" {
		p, err := e.start()
		if err != nil {
			return err
		}
		proc = p
		defer proc.stop()
		transport = &mcp.IOTransport{Reader: p.stdout, Writer: p.stdin, MaxLineLength: MaxExternalMessage}
	} else {
		t, hc, err := e.httpTransport()
		if err != nil {
			return err
		}
		defer hc.CloseIdleConnections()
		transport = t
	}
	cctx, cancel := context.WithTimeout(ctx, e.startTimeout())
	cs, err := client.Connect(cctx, transport, nil)
	cancel()
	if err != nil {
		return proc.explain(fmt.Errorf("initialize: %w", err))
	}
	defer cs.Close()
	done := make(chan error, 1)
	go func() { done <- cs.Wait() }()
	var exited <-chan struct{}
	if proc != nil {
		exited = proc.exited
	}
	if err := e.refresh(ctx, cs); err != nil {
		return proc.explain(err)
	}
	for {
		select {
		case <-ctx.Done():
			cs.Close()
			<-done
			return ctx.Err()
		case err := <-done:
			return proc.explain(fmt.Errorf("connection closed: %v", err))
		case <-exited:
			cs.Close()
			<-done
			return proc.explain(errors.New("server exited"))
		case <-changed:
			if err := e.refresh(ctx, cs); err != nil {
				return proc.explain(err)
			}
		}
	}
}

// startTimeout bounds starting a session and listing tools: the tool
// call limit, but never under minStartTimeout, as a server may take a
// while to start.
func (e *extServer) startTimeout() time.Duration { return max(e.cfg.Timeout, minStartTimeout) }

// refresh lists the server's tools and puts them on the bus.
func (e *extServer) refresh(ctx context.Context, cs *mcp.ClientSession) error {
	lctx, cancel := context.WithTimeout(ctx, e.startTimeout())
	defer cancel()
	var ts []*tool
	params := &mcp.ListToolsParams{}
	for page := 0; ; page++ {
		res, err := cs.ListTools(lctx, params)
		if err != nil {
			return fmt.Errorf("tools/list: %w", err)
		}
		for _, mt := range res.Tools {
			if len(ts) >= MaxExternalTools {
				e.log.Warn("bus: MCP server offers too many tools; the rest are left out", "limit", MaxExternalTools)
				break
			}
			t, err := e.tool(cs, mt)
			if err != nil {
				e.log.Warn("bus: MCP tool left out", "err", err)
				continue
			}
			ts = append(ts, t)
		}
		if res.NextCursor == "" || len(ts) >= MaxExternalTools || page >= 64 {
			break
		}
		params = &mcp.ListToolsParams{Cursor: res.NextCursor}
	}
	e.s.setExternalTools(e.cfg.Name, ts)
	e.set(StateConnected, nil, len(ts))
	e.log.Info("bus: MCP server connected", "tools", len(ts))
	return nil
}

// tool makes the bus's tool for one of the server's: namespaced, with the
// effect the config gives it (or destructive, when the config has no
// entry for the tool and the server marks it so; its read-only hints are
// never trusted), its input schema (never loading anything a
// $ref names) and a call routed to the server with the time limit and the
// output cap. The server sees the arguments, never the caller.
func (e *extServer) tool(cs *mcp.ClientSession, mt *mcp.Tool) (*tool, error) {
	if mt == nil {
		return nil, errors.New("empty tool")
	}
	name := e.cfg.namespace() + mt.Name
	if !externalToolName.MatchString(name) {
		return nil, fmt.Errorf("tool name %q is not a valid bus tool name", name)
	}
	var schema json.RawMessage
	if mt.InputSchema != nil {
		b, err := json.Marshal(mt.InputSchema)
		if err != nil {
			return nil, fmt.Errorf("tool %q: input schema: %w", name, err)
		}
		if len(b) > maxExternalSchema {
			return nil, fmt.Errorf("tool %q: input schema of %d bytes exceeds %d", name, len(b), maxExternalSchema)
		}
		schema = b
	}
	sch, err := compileExternalSchema(name, schema)
	if err != nil {
		return nil, err
	}
	desc := mt.Description
	if len(desc) > maxExternalDesc {
		desc = strings.ToValidUTF8(desc[:maxExternalDesc], "")
	}
	effect := e.cfg.effectOf(mt.Name)
	if _, set := e.cfg.ToolEffects[mt.Name]; !set && mt.Annotations != nil && mt.Annotations.DestructiveHint != nil && *mt.Annotations.DestructiveHint {
		effect = busapi.EffectDestructive // a server's hint may only tighten
	}
	remote, timeout, server := mt.Name, e.cfg.Timeout, e.cfg.Name
	t := &tool{spec: busapi.ToolSpec{Name: name, Description: desc, InputSchema: schema, Effect: effect}, schema: sch}
	t.run = func(ctx context.Context, _ *conn, args json.RawMessage) (busapi.ToolResult, error) {
		if len(bytes.TrimSpace(args)) == 0 {
			args = json.RawMessage(`{}`)
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		res, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: remote, Arguments: args})
		if err != nil {
			if errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
				return busapi.ToolResult{}, fmt.Errorf("tool %q: MCP server %q did not answer within %s", name, server, timeout)
			}
			return busapi.ToolResult{}, fmt.Errorf("tool %q: MCP server %q: %w", name, server, err)
		}
		return busapi.ToolResult{Text: resultText(res), IsError: res.IsError}, nil
	}
	return t, nil
}

// noLoader refuses every URL: an external server's schema may not make
// the bus read files or the network through a $ref.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema $ref %q: external references are not loaded", url)
}

func compileExternalSchema(name string, raw json.RawMessage) (*jsonschema.Schema, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = anyObject
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("tool %q: input schema: %w", name, err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	url := "mem:///external/" + name + ".json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("tool %q: input schema: %w", name, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("tool %q: input schema: %w", name, err)
	}
	return sch, nil
}

// resultText renders a tool result as text, at most MaxExternalOutput
// bytes: text and embedded text resources as they are, binary content as
// a note, structured content as JSON when there is nothing else.
func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		switch c := c.(type) {
		case *mcp.TextContent:
			b.WriteString(c.Text)
		case *mcp.ImageContent:
			fmt.Fprintf(&b, "[image %s, %d bytes]", c.MIMEType, len(c.Data))
		case *mcp.AudioContent:
			fmt.Fprintf(&b, "[audio %s, %d bytes]", c.MIMEType, len(c.Data))
		case *mcp.ResourceLink:
			fmt.Fprintf(&b, "[resource %s]", c.URI)
		case *mcp.EmbeddedResource:
			if c.Resource != nil && c.Resource.Text != "" {
				b.WriteString(c.Resource.Text)
			} else if c.Resource != nil {
				fmt.Fprintf(&b, "[resource %s, %d bytes]", c.Resource.URI, len(c.Resource.Blob))
			}
		default:
			fmt.Fprintf(&b, "[%T]", c)
		}
		if b.Len() > MaxExternalOutput {
			break
		}
	}
	if b.Len() == 0 && res.StructuredContent != nil {
		if j, err := json.Marshal(res.StructuredContent); err == nil {
			b.Write(j)
		}
	}
	s := b.String()
	if len(s) > MaxExternalOutput {
		s = s[:MaxExternalOutput] + fmt.Sprintf("\n[output cut: %d more bytes]", len(s)-MaxExternalOutput)
	}
	return s
}

// setExternalTools replaces the server's tools on the bus (none: removes
// them). Its namespace is reserved, so no process's tool is touched.
func (s *Server) setExternalTools(server string, ts []*tool) {
	prefix := server + "."
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, t := range s.tools {
		if t.owner == nil && strings.HasPrefix(name, prefix) {
			delete(s.tools, name)
		}
	}
	for _, t := range ts {
		s.tools[t.spec.Name] = t
	}
}

// httpTransport reaches a streamable-HTTP server, with the token header
// when the config names one, and answers of at most MaxExternalMessage
// bytes (each server-sent event, and each plain response body).
func (e *extServer) httpTransport() (mcp.Transport, *http.Client, error) {
	bt := boundedTransport{next: http.DefaultTransport.(*http.Transport).Clone()}
	if e.cfg.TokenEnv != "" {
		tok := os.Getenv(e.cfg.TokenEnv)
		if tok == "" {
			return nil, nil, fmt.Errorf("token_env %s is not set in the bus's environment", e.cfg.TokenEnv)
		}
		bt.name, bt.value = "Authorization", "Bearer "+tok
		if e.cfg.Header != "" {
			bt.name, bt.value = e.cfg.Header, tok
		}
	}
	hc := &http.Client{Transport: bt, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		// The token would follow the redirect to wherever it points.
		return fmt.Errorf("MCP server redirects to %s: redirects are not followed", r.URL.Redacted())
	}}
	return &mcp.StreamableClientTransport{Endpoint: e.cfg.URL, HTTPClient: hc, MaxRetries: 2, MaxEventSize: MaxExternalMessage}, hc, nil
}

// boundedTransport adds the token header and caps response bodies that
// are not event streams (the SDK reads those whole).
type boundedTransport struct {
	next        *http.Transport
	name, value string
}

// CloseIdleConnections lets http.Client close the idle connections.
func (b boundedTransport) CloseIdleConnections() { b.next.CloseIdleConnections() }

func (b boundedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.name != "" {
		r = r.Clone(r.Context())
		r.Header.Set(b.name, b.value)
	}
	resp, err := b.next.RoundTrip(r)
	if err == nil && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body = &cappedBody{ReadCloser: resp.Body, left: MaxExternalMessage}
	}
	return resp, err
}

// cappedBody fails a read past its limit instead of growing without end.
type cappedBody struct {
	io.ReadCloser
	left int64
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("MCP server answer exceeds %d bytes", MaxExternalMessage)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}
