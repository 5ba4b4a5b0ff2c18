// Package bus is the Go client of the ainative bus and the definition of
// its protocol: MCP over a Unix socket plus the "ainative/" methods listed
// in proto.go. An app joins in a few lines:
//
//	c, err := bus.FromEnvironment(ctx)
//	...
//	c.Publish(ctx, bus.PublishParams{Kind: "cwd", Text: dir})
//	c.Register(ctx, bus.ToolSpec{Name: "greet", Effect: bus.EffectRead}, func(ctx context.Context, call bus.ToolCallParams) (bus.ToolResult, error) {
//		return bus.ToolResult{Text: "hello uid " + strconv.Itoa(int(call.Caller.UID))}, nil
//	})
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ToolFunc serves a registered tool.
type ToolFunc func(ctx context.Context, call ToolCallParams) (ToolResult, error)

// ConsentFunc answers a consent request; it must ask a person.
type ConsentFunc func(ctx context.Context, req ConsentRequest) (bool, error)

// Client is a connection to the bus. Its methods are safe for concurrent use.
type Client struct {
	conn    *Conn
	session *mcp.ClientSession

	mu      sync.Mutex
	tools   map[string]ToolFunc
	specs   []ToolSpec
	consent ConsentFunc
}

// ErrNoBus is returned (wrapped) when no bus answers.
var ErrNoBus = errors.New("no ainative bus is running (start one with 'ainative bus' or 'ainative up')")

// FromEnvironment connects to AINATIVE_BUS when set, else to the user's
// socket, else to the system socket.
func FromEnvironment(ctx context.Context) (*Client, error) {
	if p := os.Getenv("AINATIVE_BUS"); p != "" {
		return Dial(ctx, p)
	}
	var last error
	for _, p := range []string{SocketPath(), SystemSocket} {
		c, err := Dial(ctx, p)
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// Dial connects to the bus socket at path and initializes the MCP session.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("bus %s: %w: %w", path, ErrNoBus, err)
	}
	return NewClient(ctx, nc)
}

// NewClient runs the bus protocol over an open connection.
func NewClient(ctx context.Context, nc net.Conn) (*Client, error) {
	inner, err := (&mcp.IOTransport{Reader: nc, Writer: nc}).Connect(ctx)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := &Client{tools: map[string]ToolFunc{}}
	c.conn = NewConn(inner, c.handle)
	cl := mcp.NewClient(&mcp.Implementation{Name: "ainative-bus-client", Version: "1"}, nil)
	c.session, err = cl.Connect(ctx, c.conn.Transport(), nil)
	if err != nil {
		c.conn.Close()
		return nil, fmt.Errorf("bus: initializing: %w", err)
	}
	return c, nil
}

func (c *Client) handle(ctx context.Context, method string, raw json.RawMessage) (any, error) {
	switch method {
	case MethodToolCall:
		var p ToolCallParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
		}
		c.mu.Lock()
		fn := c.tools[p.Name]
		c.mu.Unlock()
		if fn == nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: fmt.Sprintf("no tool %q here", p.Name)}
		}
		res, err := fn(ctx, p)
		if err != nil {
			return ToolResult{Text: err.Error(), IsError: true}, nil
		}
		return res, nil
	case MethodConsentAsk:
		var r ConsentRequest
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
		}
		c.mu.Lock()
		fn := c.consent
		c.mu.Unlock()
		if fn == nil {
			return ConsentAnswer{}, nil
		}
		ok, err := fn(ctx, r)
		if err != nil {
			return nil, err
		}
		return ConsentAnswer{Approve: ok}, nil
	}
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: fmt.Sprintf("method %q not served by this client", method)}
}

// Session is the MCP session, for any standard MCP request.
func (c *Client) Session() *mcp.ClientSession { return c.session }

// Call sends any "ainative/" request.
func (c *Client) Call(ctx context.Context, method string, params, out any) error {
	return c.conn.Call(ctx, method, params, out)
}

// Hello declares the connection's role and returns the caller's identity
// as the bus sees it.
func (c *Client) Hello(ctx context.Context, role string) (Identity, error) {
	var id Identity
	err := c.Call(ctx, MethodHello, HelloParams{Role: role}, &id)
	return id, err
}

// Publish stores a context item and returns its id.
func (c *Client) Publish(ctx context.Context, p PublishParams) (int64, error) {
	var r PublishResult
	err := c.Call(ctx, MethodContextPublish, p, &r)
	return r.ID, err
}

// Query returns the context items the caller may see.
func (c *Client) Query(ctx context.Context, q QueryParams) ([]Item, error) {
	var r QueryResult
	err := c.Call(ctx, MethodContextQuery, q, &r)
	return r.Items, err
}

// Register adds a tool this process serves; calls arrive at fn with the
// caller's kernel identity.
func (c *Client) Register(ctx context.Context, spec ToolSpec, fn ToolFunc) error {
	c.mu.Lock()
	c.tools[spec.Name] = fn
	specs := append(c.specs, spec)
	c.mu.Unlock()
	if err := c.Call(ctx, MethodToolRegister, RegisterParams{Tools: specs}, nil); err != nil {
		c.mu.Lock()
		delete(c.tools, spec.Name)
		c.mu.Unlock()
		return err
	}
	c.mu.Lock()
	c.specs = specs
	c.mu.Unlock()
	return nil
}

// ServeConsent makes this connection a consent agent of its user.
func (c *Client) ServeConsent(ctx context.Context, fn ConsentFunc) error {
	c.mu.Lock()
	c.consent = fn
	c.mu.Unlock()
	return c.Call(ctx, MethodConsentRegister, struct{}{}, nil)
}

// CallTool calls a tool through the bus (policy and consent apply) and
// returns its text; a tool failure is an error.
func (c *Client) CallTool(ctx context.Context, name string, args any) (string, error) {
	res, err := c.session.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, ct := range res.Content {
		if t, ok := ct.(*mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	if res.IsError {
		return b.String(), fmt.Errorf("tool %s: %s", name, b.String())
	}
	return b.String(), nil
}

// ListTools lists the tools the caller may call.
func (c *Client) ListTools(ctx context.Context) ([]*mcp.Tool, error) {
	res, err := c.session.ListTools(ctx, nil)
	if err != nil {
		return nil, err
	}
	return res.Tools, nil
}

// Audit returns audit records (only the caller's own unless root).
func (c *Client) Audit(ctx context.Context, q AuditQuery) ([]AuditRecord, error) {
	var r AuditResult
	err := c.Call(ctx, MethodAuditQuery, q, &r)
	return r.Records, err
}

// Chat asks the runtime through the bus.
func (c *Client) Chat(ctx context.Context, p ChatParams) (ChatResult, error) {
	var r ChatResult
	err := c.Call(ctx, MethodChat, p, &r)
	return r, err
}

// Wait blocks until the connection closes.
func (c *Client) Wait() error { return c.session.Wait() }

// Close closes the connection.
func (c *Client) Close() error {
	err := c.session.Close()
	c.conn.Close()
	return err
}
