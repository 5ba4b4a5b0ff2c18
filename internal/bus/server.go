// Package bus is the AI bus: processes on the machine talk to the AI and
// to each other through one daemon that knows who is calling (from the
// kernel), what they may share (context items) and what the AI may do on
// their behalf (tools under a policy, with consent and an audit log).
//
// # Protocol
//
// The bus speaks MCP (JSON-RPC 2.0, newline-delimited, through the
// official Go SDK) on a Unix socket. Any MCP client can initialize, list
// tools (tools/list), call them (tools/call) and read context as
// resources (resources/list, resources/read, URIs "ainative://context/ID").
// What MCP lacks travels as extra JSON-RPC methods on the same stream,
// named with the "ainative/" prefix (see client/bus for their parameters):
//
//	ainative/hello              role "app" or "gateway" -> caller identity
//	ainative/context.publish    kind, text, sensitivity, ttlSeconds -> id
//	ainative/context.query      text (relevance) or none (recent), kinds, limit -> items
//	ainative/tool.register      tools served by this connection
//	ainative/tool.call          bus -> provider: a routed call, with the caller
//	ainative/consent.register   this connection answers consent for its user
//	ainative/consent.ask        bus -> agent: may the caller run this? -> approve
//	ainative/audit.query        filters -> audit records (non-root: own only)
//	ainative/ai.chat            model, messages, context -> answer
//	ainative/mcp.status         -> external MCP servers: state, tools, last error
//
// # External MCP servers
//
// Servers listed in bus.toml (see MCPServer) are started or reached when
// the bus starts and supervised (reconnected with back-off); their tools
// join the bus as "NAME.tool" and are called under the same policy,
// consent and audit as any other tool, with a time limit and an output
// cap. The server sees the arguments, never the caller's identity or
// environment.
//
// Relevance: with an embedding model configured (policy.toml's
// embedding_model), context.query with text ranks the caller's visible
// items by the cosine similarity of embeddings from the runtime, among the
// newest maxVecScan items that have one, topped up from the full-text
// index with items not embedded yet; without one, or while the runtime
// cannot embed, the full-text index (SQLite FTS5) ranks.
//
// ai.chat forwards to the runtime naming the caller (see
// client.OnBehalfOfHeader), attaches context only when asked and never a
// secret item, and refuses a model served by a remote backend unless a
// [[backend]] grant of the policy names the caller.
//
// # Identity
//
// Every connection's uid, gid and pid come from SO_PEERCRED, pinned by a
// pidfd (SO_PEERPIDFD, or pidfd_open on older kernels); executable and
// groups are read from /proc and discarded if the pinned process exited
// meanwhile. No request field names the caller.
//
// # Limits
//
// MaxMessage bytes per JSON-RPC message (a longer one closes that
// connection), MaxConns connections and MaxConnsPerUID per user (further
// ones are closed at once), busapi.MaxConcurrent bus requests in flight
// per connection (more are answered with busapi.CodeBusy; a client that
// floods without reading its answers blocks only its own socket, other
// connections have their own goroutines), keepalive pings close dead
// peers, MaxItemText per context item, MaxToolsPerConn tools per
// connection. A relevance query by embeddings compares at most maxVecScan
// items and waits for the runtime at most embedTimeout per call (plus one
// batch of the background worker). The audit log rotates when its file
// would pass Config.AuditMaxBytes, keeping Config.AuditKeep older files.
package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	busapi "github.com/raym33/ainative/client/bus"
)

// Connection and message limits (see the package doc).
const (
	MaxMessage     = 1 << 20
	MaxConns       = 256
	MaxConnsPerUID = 32
	KeepAlive      = 30 * time.Second
)

// Config configures a Server.
type Config struct {
	// Dir holds the context database and the audit log.
	Dir string
	// Policy decides; nil means the default policy.
	Policy *Policy
	// ConsentTimeout bounds how long a consent request waits (default 2 min).
	ConsentTimeout time.Duration
	// CommandTimeout bounds run_command (default CommandTimeout).
	CommandTimeout time.Duration
	// Chat answers ai.chat; nil makes ai.chat fail with a clear error.
	Chat func(ctx context.Context, caller busapi.Identity, p busapi.ChatParams) (busapi.ChatResult, error)
	// ModelBackend names the remote backend serving a model ("" when
	// local), so that ai.chat applies the policy's [[backend]] grants;
	// nil treats every model as local (RuntimeBackends asks the runtime).
	ModelBackend func(ctx context.Context, model string) (string, error)
	// EmbedModel and Embed rank relevance queries by embeddings
	// (RuntimeEmbed); without them the full-text index ranks.
	EmbedModel string
	Embed      EmbedFunc
	// AuditMaxBytes caps the live audit file (default
	// DefaultAuditMaxBytes); AuditKeep rotated files are kept beside it
	// (default DefaultAuditKeep) and read by audit queries.
	AuditMaxBytes int64
	AuditKeep     int
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// MCPServers are external MCP servers attached as tool providers
	// (see external.go); their tools are "NAME.tool".
	MCPServers []MCPServer
}

// Server is a running bus.
type Server struct {
	cfg    Config
	policy *Policy
	store  *store
	audit  *auditLog
	self   string
	log    *slog.Logger
	system map[string]*tool
	ext    *externals
	emb    *embedder // nil: full-text relevance only

	mu     sync.Mutex
	conns  map[*conn]struct{}
	perUID map[uint32]int
	tools  map[string]*tool
	agents map[uint32][]*conn
	wg     sync.WaitGroup
}

// conn is one connected process.
type conn struct {
	s       *Server
	p       *peer
	mux     *busapi.Conn
	gateway atomic.Bool
}

// New opens the bus's state under cfg.Dir.
func New(cfg Config) (*Server, error) {
	if cfg.Policy == nil {
		cfg.Policy = &Policy{}
	}
	if cfg.ConsentTimeout <= 0 {
		cfg.ConsentTimeout = 2 * time.Minute
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = CommandTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("bus state: %w", err)
	}
	st, err := openStore(filepath.Join(cfg.Dir, "context.db"))
	if err != nil {
		return nil, err
	}
	au, err := openAudit(filepath.Join(cfg.Dir, "audit.jsonl"), cfg.AuditMaxBytes, cfg.AuditKeep)
	if err != nil {
		st.close()
		return nil, err
	}
	self, _ := os.Executable()
	s := &Server{cfg: cfg, policy: cfg.Policy, store: st, audit: au, self: self, log: cfg.Logger,
		conns: map[*conn]struct{}{}, perUID: map[uint32]int{}, tools: map[string]*tool{}, agents: map[uint32][]*conn{}}
	s.system = s.systemTools()
	if cfg.Embed != nil && cfg.EmbedModel != "" {
		s.emb = newEmbedder(cfg.EmbedModel, cfg.Embed, st, cfg.Logger)
	}
	if len(cfg.MCPServers) > 0 {
		s.ext = s.startExternal(cfg.MCPServers)
	}
	return s, nil
}

// DefaultDir is the bus's state directory under AINATIVE_HOME (found as
// the model store finds it).
func DefaultDir(storeDir string) string { return filepath.Join(filepath.Dir(storeDir), "bus") }

// Serve accepts connections on l until ctx ends, then closes every
// connection and waits for them.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); l.Close() }()
	go s.expireLoop(ctx)
	if s.emb != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.emb.loop(ctx)
		}()
	}
	for {
		nc, err := l.Accept()
		if err != nil {
			cancel()
			s.wg.Wait()
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.ServeConn(ctx, nc)
		}()
	}
}

func (s *Server) expireLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if err := s.store.expire(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("bus: expiring context", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ServeConn serves one Unix-socket connection until it closes or ctx ends.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	p, err := peerOf(nc)
	if err != nil {
		s.log.Warn("bus: refusing connection", "err", err)
		return
	}
	defer p.close()
	c := &conn{s: s, p: p}
	if !s.admit(c) {
		s.log.Warn("bus: too many connections", "uid", p.UID, "pid", p.PID)
		return
	}
	defer s.drop(c)
	inner, err := (&mcp.IOTransport{Reader: nc, Writer: nc, MaxLineLength: MaxMessage}).Connect(ctx)
	if err != nil {
		return
	}
	c.mux = busapi.NewConn(inner, c.handle)
	defer c.mux.Close()
	srv := mcp.NewServer(&mcp.Implementation{Name: "ainative-bus", Version: "1"}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}, Resources: &mcp.ResourceCapabilities{}},
		KeepAlive:    KeepAlive,
		Logger:       slog.New(slog.DiscardHandler),
	})
	srv.AddReceivingMiddleware(c.middleware)
	ss, err := srv.Connect(ctx, c.mux.Transport(), nil)
	if err != nil {
		return
	}
	stop := context.AfterFunc(ctx, func() { ss.Close() })
	defer stop()
	ss.Wait()
	ss.Close() // stops the keepalive pinger, which Wait leaves running
}

func (s *Server) admit(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) >= MaxConns || s.perUID[c.p.UID] >= MaxConnsPerUID {
		return false
	}
	s.conns[c] = struct{}{}
	s.perUID[c.p.UID]++
	return true
}

// drop forgets a closed connection with its tools and consent role.
func (s *Server) drop(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.perUID[c.p.UID]--; s.perUID[c.p.UID] <= 0 {
		delete(s.perUID, c.p.UID)
	}
	for name, t := range s.tools {
		if t.owner == c {
			delete(s.tools, name)
		}
	}
	s.dropAgent(c)
}

// dropAgent removes c from its user's consent agents; s.mu is held.
func (s *Server) dropAgent(c *conn) {
	s.agents[c.p.UID] = slices.DeleteFunc(s.agents[c.p.UID], func(a *conn) bool { return a == c })
	if len(s.agents[c.p.UID]) == 0 {
		delete(s.agents, c.p.UID)
	}
}

// Close closes the bus's state; call after Serve returned.
func (s *Server) Close() error {
	s.ext.stop()
	return errors.Join(s.store.close(), s.audit.close())
}

func (s *Server) record(c *conn, action, target, decision, detail string) {
	if err := s.audit.add(busapi.AuditRecord{Time: time.Now().UTC(), Caller: c.p.Identity, Action: action,
		Target: target, Decision: decision, Detail: detail}); err != nil {
		s.log.Error("bus: audit", "err", err)
	}
}

func invalidParams(method string, err error) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("%s: %v", method, err)}
}

// decode unmarshals params strictly enough to name what is wrong.
func decode(method string, raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = json.RawMessage(`{}`)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return invalidParams(method, err)
	}
	return nil
}

// handle answers the bus's own methods.
func (c *conn) handle(ctx context.Context, method string, raw json.RawMessage) (any, error) {
	s := c.s
	switch method {
	case busapi.MethodHello:
		var p busapi.HelloParams
		if err := decode(method, raw, &p); err != nil {
			return nil, err
		}
		switch p.Role {
		case "", busapi.RoleApp:
		case busapi.RoleGateway:
			c.gateway.Store(true)
			s.mu.Lock()
			s.dropAgent(c)
			s.mu.Unlock()
		default:
			return nil, invalidParams(method, fmt.Errorf("role %q is not app or gateway", p.Role))
		}
		return c.p.Identity, nil
	case busapi.MethodContextPublish:
		var p busapi.PublishParams
		if err := decode(method, raw, &p); err != nil {
			return nil, err
		}
		if err := checkPublish(&p); err != nil {
			return nil, invalidParams(method, err)
		}
		id, err := s.store.publish(ctx, c.p.Identity, p, time.Now())
		if err != nil {
			return nil, err
		}
		if s.emb != nil {
			s.emb.published()
		}
		return busapi.PublishResult{ID: id}, nil
	case busapi.MethodContextQuery:
		var q busapi.QueryParams
		if err := decode(method, raw, &q); err != nil {
			return nil, err
		}
		items, err := s.visibleItems(ctx, c, q)
		if err != nil {
			return nil, err
		}
		return busapi.QueryResult{Items: items}, nil
	case busapi.MethodToolRegister:
		var p busapi.RegisterParams
		if err := decode(method, raw, &p); err != nil {
			return nil, err
		}
		if err := s.register(c, p.Tools); err != nil {
			return nil, invalidParams(method, err)
		}
		return struct{}{}, nil
	case busapi.MethodConsentRegister:
		if err := s.registerAgent(c); err != nil {
			s.record(c, "consent.register", "", busapi.DecisionDenied, err.Error())
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: err.Error()}
		}
		s.record(c, "consent.register", "", busapi.DecisionAllowed, "")
		return struct{}{}, nil
	case busapi.MethodAuditQuery:
		var q busapi.AuditQuery
		if err := decode(method, raw, &q); err != nil {
			return nil, err
		}
		if c.p.UID != 0 {
			uid := c.p.UID
			q.UID = &uid
		}
		recs, err := s.audit.query(q)
		if err != nil {
			return nil, err
		}
		return busapi.AuditResult{Records: recs}, nil
	case busapi.MethodMCPStatus:
		return busapi.MCPStatusResult{Servers: s.MCPStatus()}, nil
	case busapi.MethodChat:
		var p busapi.ChatParams
		if err := decode(method, raw, &p); err != nil {
			return nil, err
		}
		return s.chat(ctx, c, p)
	}
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: fmt.Sprintf("no bus method %q", method)}
}

// visibleItems answers a query with the items c may see: ranked by
// embeddings when they are available (topped up from the full-text index
// with items not embedded yet), else by the full-text index.
func (s *Server) visibleItems(ctx context.Context, c *conn, q busapi.QueryParams) ([]busapi.Item, error) {
	gw := c.gateway.Load()
	visible := func(it *busapi.Item) bool { return s.policy.canSee(c.p.Identity, gw, it) }
	now := time.Now()
	if s.emb == nil || q.Text == "" {
		return s.store.query(ctx, q, now, visible)
	}
	items, ok, err := s.emb.rank(ctx, q, now, visible)
	if err != nil {
		return nil, err
	}
	if !ok {
		return s.store.query(ctx, q, now, visible)
	}
	if len(items) >= queryLimit(q.Limit) {
		return items, nil
	}
	seen := map[int64]bool{}
	for _, it := range items {
		seen[it.ID] = true
	}
	more, err := s.store.query(ctx, q, now, func(it *busapi.Item) bool { return !seen[it.ID] && visible(it) })
	if err != nil {
		return nil, err
	}
	return append(items, more[:min(len(more), queryLimit(q.Limit)-len(items))]...), nil
}

func (s *Server) register(c *conn, specs []busapi.ToolSpec) error {
	if len(specs) > MaxToolsPerConn {
		return fmt.Errorf("%d tools exceed the limit of %d per connection", len(specs), MaxToolsPerConn)
	}
	var ts []*tool
	for _, sp := range specs {
		if !toolName.MatchString(sp.Name) {
			return fmt.Errorf("tool name %q must be a letter then up to 63 of A-Z a-z 0-9 _ . -", sp.Name)
		}
		if srv, ok := isReserved(s.cfg.MCPServers, sp.Name); ok {
			return fmt.Errorf("tool %q is in the namespace of MCP server %q", sp.Name, srv)
		}
		if !validEffect(sp.Effect) {
			return fmt.Errorf("tool %q: effect %q is not read, write, destructive or network", sp.Name, sp.Effect)
		}
		sch, err := compileSchema(sp.Name, sp.InputSchema)
		if err != nil {
			return err
		}
		t := &tool{spec: sp, owner: c, schema: sch}
		t.run = func(ctx context.Context, caller *conn, args json.RawMessage) (busapi.ToolResult, error) {
			var res busapi.ToolResult
			err := t.owner.mux.Call(ctx, busapi.MethodToolCall, busapi.ToolCallParams{Name: sp.Name, Arguments: args, Caller: caller.p.Identity}, &res)
			return res, err
		}
		ts = append(ts, t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range ts {
		if _, ok := s.system[t.spec.Name]; ok {
			return fmt.Errorf("tool %q is a system tool", t.spec.Name)
		}
		if old, ok := s.tools[t.spec.Name]; ok && old.owner != c {
			return fmt.Errorf("tool %q is already served by pid %d", t.spec.Name, old.owner.p.PID)
		}
	}
	for _, t := range ts {
		s.tools[t.spec.Name] = t
	}
	return nil
}

// registerAgent makes c a consent agent of its user. Only a person-facing
// program may answer: ainative itself or an executable the policy names,
// and never a gateway for outside MCP clients.
func (s *Server) registerAgent(c *conn) error {
	if c.gateway.Load() {
		return errors.New("a gateway connection cannot answer consent")
	}
	if c.p.Exe == "" || c.p.Exe != s.self && !slices.Contains(s.policy.ConsentAgents, c.p.Exe) {
		return fmt.Errorf("executable %q may not answer consent (policy consent_agents)", c.p.Exe)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.agents[c.p.UID]) >= 4 {
		return errors.New("too many consent agents for this user")
	}
	s.agents[c.p.UID] = append(s.agents[c.p.UID], c)
	return nil
}

func (s *Server) lookup(name string) *tool {
	if t, ok := s.system[name]; ok {
		return t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tools[name]
}

// listTools returns the tools c may call (allowed or with consent).
func (s *Server) listTools(c *conn) []*mcp.Tool {
	s.mu.Lock()
	all := make([]*tool, 0, len(s.system)+len(s.tools))
	for _, t := range s.system {
		all = append(all, t)
	}
	for _, t := range s.tools {
		all = append(all, t)
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b *tool) int { return strings.Compare(a.spec.Name, b.spec.Name) })
	out := []*mcp.Tool{}
	for _, t := range all {
		if d, _ := s.policy.decide(c.p.Identity, t.spec.Name, t.spec.Effect, t.owner != nil, t.ownerUID()); d == Deny {
			continue
		}
		schema := t.spec.InputSchema
		if len(schema) == 0 {
			schema = anyObject
		}
		ro := t.spec.Effect == busapi.EffectRead
		destructive := t.spec.Effect == busapi.EffectDestructive
		open := t.spec.Effect == busapi.EffectNetwork
		out = append(out, &mcp.Tool{Name: t.spec.Name, Description: t.spec.Description, InputSchema: schema,
			Annotations: &mcp.ToolAnnotations{ReadOnlyHint: ro, DestructiveHint: &destructive, OpenWorldHint: &open},
			Meta:        mcp.Meta{"ainative/effect": t.spec.Effect}})
	}
	return out
}

// ErrNoConsentPath is returned (wrapped) when a call needs consent and no
// consent agent of the caller's user is connected.
var ErrNoConsentPath = errors.New("no consent agent is connected for this user (run 'ainative bus consent' in a terminal)")

// callTool runs a tool for c under the policy: validation, decision,
// consent, audit, then the call.
func (s *Server) callTool(ctx context.Context, c *conn, name string, args json.RawMessage) (busapi.ToolResult, error) {
	t := s.lookup(name)
	if t == nil {
		return busapi.ToolResult{}, fmt.Errorf("no tool %q", name)
	}
	if err := t.validateArgs(args); err != nil {
		s.record(c, "tool", name, busapi.DecisionDenied, err.Error())
		return busapi.ToolResult{}, err
	}
	decision, why := s.policy.decide(c.p.Identity, name, t.spec.Effect, t.owner != nil, t.ownerUID())
	switch decision {
	case Deny:
		s.record(c, "tool", name, busapi.DecisionDenied, why)
		return busapi.ToolResult{}, fmt.Errorf("tool %q denied: %s", name, why)
	case Ask:
		if err := s.askConsent(ctx, c, t, args); err != nil {
			return busapi.ToolResult{}, err
		}
	default:
		s.record(c, "tool", name, busapi.DecisionAllowed, why)
	}
	return t.run(ctx, c, args)
}

func (s *Server) askConsent(ctx context.Context, c *conn, t *tool, args json.RawMessage) error {
	name := t.spec.Name
	s.mu.Lock()
	var agent *conn
	if as := s.agents[c.p.UID]; len(as) > 0 {
		agent = as[len(as)-1]
	}
	s.mu.Unlock()
	if agent == nil {
		s.record(c, "tool", name, busapi.DecisionNoAgent, "")
		return fmt.Errorf("tool %q (%s) needs consent: %w", name, t.spec.Effect, ErrNoConsentPath)
	}
	var idb [8]byte
	rand.Read(idb[:])
	req := busapi.ConsentRequest{ID: hex.EncodeToString(idb[:]), Caller: c.p.Identity, Tool: name, Effect: t.spec.Effect, Arguments: args}
	if name == "run_command" {
		var a struct {
			Command string `json:"command"`
		}
		json.Unmarshal(args, &a)
		req.Risk = commandRisk(a.Command)
	}
	s.record(c, "tool", name, busapi.DecisionAsked, "agent pid "+strconv.Itoa(int(agent.p.PID))+" request "+req.ID)
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ConsentTimeout)
	defer cancel()
	var ans busapi.ConsentAnswer
	if err := agent.mux.Call(cctx, busapi.MethodConsentAsk, req, &ans); err != nil {
		if cctx.Err() != nil {
			s.record(c, "tool", name, busapi.DecisionTimedOut, req.ID)
			return fmt.Errorf("tool %q: no consent answer within %s", name, s.cfg.ConsentTimeout)
		}
		s.record(c, "tool", name, busapi.DecisionRefused, req.ID+": "+err.Error())
		return fmt.Errorf("tool %q: consent failed: %w", name, err)
	}
	if !ans.Approve {
		s.record(c, "tool", name, busapi.DecisionRefused, req.ID)
		return fmt.Errorf("tool %q: consent refused", name)
	}
	s.record(c, "tool", name, busapi.DecisionApproved, req.ID)
	return nil
}

// chat forwards to the runtime, attaching the caller's visible, non-secret
// context when asked.
func (s *Server) chat(ctx context.Context, c *conn, p busapi.ChatParams) (any, error) {
	if s.cfg.Chat == nil {
		return nil, errors.New("ai.chat: this bus has no runtime connected")
	}
	if len(p.Messages) == 0 {
		return nil, invalidParams(busapi.MethodChat, errors.New("no messages"))
	}
	detail := ""
	if s.cfg.ModelBackend != nil {
		backend, err := s.cfg.ModelBackend(ctx, p.Model)
		if err != nil {
			s.record(c, "ai.chat", p.Model, busapi.DecisionDenied, "cannot tell where the model is served: "+err.Error())
			return nil, fmt.Errorf("ai.chat: cannot tell whether model %q is local: %w", p.Model, err)
		}
		if backend != "" {
			ok, why := s.policy.mayUseBackend(c.p.Identity, c.gateway.Load(), backend)
			if !ok {
				s.record(c, "ai.chat", p.Model, busapi.DecisionDenied, "remote backend "+backend+": "+why)
				return nil, fmt.Errorf("ai.chat: model %q is served by the remote backend %q, which uid %d (%s) may not use: %s",
					p.Model, backend, c.p.UID, c.p.Exe, why)
			}
			detail = "remote backend " + backend + ": " + why
		}
	}
	if p.Context {
		items, err := s.visibleItems(ctx, c, busapi.QueryParams{Text: p.Messages[len(p.Messages)-1].Content, Limit: 5})
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		for _, it := range items {
			if it.Sensitivity != busapi.Secret {
				fmt.Fprintf(&b, "[%s] %s\n", it.Kind, it.Text)
			}
		}
		if b.Len() > 0 {
			p.Messages = append([]busapi.ChatMessage{{Role: "system", Content: "Context from this machine:\n" + b.String()}}, p.Messages...)
		}
	}
	s.record(c, "ai.chat", p.Model, busapi.DecisionAllowed, detail)
	return s.cfg.Chat(ctx, c.p.Identity, p)
}

const contextURI = "ainative://context/"

// middleware serves tools and resources from the bus's live state, so that
// each caller sees what the policy lets it see.
func (c *conn) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	s := c.s
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case "tools/list":
			return &mcp.ListToolsResult{Tools: s.listTools(c)}, nil
		case "tools/call":
			r, ok := req.(*mcp.CallToolRequest)
			if !ok || r.Params == nil {
				break
			}
			res, err := s.callTool(ctx, c, r.Params.Name, r.Params.Arguments)
			if err != nil {
				text := err.Error()
				if res.Text != "" {
					text = res.Text + "\n" + text
				}
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
			}
			return &mcp.CallToolResult{IsError: res.IsError, Content: []mcp.Content{&mcp.TextContent{Text: res.Text}}}, nil
		case "resources/list":
			items, err := s.visibleItems(ctx, c, busapi.QueryParams{Limit: MaxQueryLimit})
			if err != nil {
				return nil, err
			}
			out := &mcp.ListResourcesResult{Resources: []*mcp.Resource{}}
			for _, it := range items {
				out.Resources = append(out.Resources, &mcp.Resource{URI: contextURI + strconv.FormatInt(it.ID, 10),
					Name: fmt.Sprintf("%s-%d", it.Kind, it.ID), MIMEType: "text/plain", Description: fmt.Sprintf("%s context from uid %d (%s)", it.Kind, it.Owner.UID, it.Owner.Exe)})
			}
			return out, nil
		case "resources/read":
			r, ok := req.(*mcp.ReadResourceRequest)
			if !ok || r.Params == nil {
				break
			}
			id, err := strconv.ParseInt(strings.TrimPrefix(r.Params.URI, contextURI), 10, 64)
			if err != nil || !strings.HasPrefix(r.Params.URI, contextURI) {
				return nil, mcp.ResourceNotFoundError(r.Params.URI)
			}
			it, err := s.store.get(ctx, id, time.Now())
			if err != nil {
				return nil, err
			}
			if it == nil || !s.policy.canSee(c.p.Identity, c.gateway.Load(), it) {
				return nil, mcp.ResourceNotFoundError(r.Params.URI)
			}
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, MIMEType: "text/plain", Text: it.Text}}}, nil
		}
		return next(ctx, method, req)
	}
}
