package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Handler answers an "ainative/" request that arrives on a Conn. Its
// result is sent back as the JSON-RPC result; an error as a JSON-RPC error
// (a *jsonrpc.Error keeps its code).
type Handler func(ctx context.Context, method string, params json.RawMessage) (any, error)

// idPrefix marks the ids of requests a Conn sends itself, so that their
// responses are told apart from the MCP session's (the SDK uses numbers).
const idPrefix = "ainative:"

// MaxConcurrent is how many "ainative/" requests one Conn handles at once;
// further ones are answered with CodeBusy.
const MaxConcurrent = 8

// CodeBusy is the JSON-RPC error code of a request refused because its
// connection has MaxConcurrent bus requests in flight.
const CodeBusy = -32001

// ErrClosed is returned by Call once the connection is closed.
var ErrClosed = errors.New("bus connection closed")

// Conn is an MCP connection that also carries the bus's own methods on the
// same JSON-RPC stream: incoming requests whose method starts with
// MethodPrefix go to the Handler, responses to Call go back to it, and
// every other message passes to the MCP session (client or server) reading
// it. There is one framing: the SDK's newline-delimited JSON-RPC.
type Conn struct {
	inner  mcp.Connection
	handle Handler
	sem    chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	nextID atomic.Int64
	wg     sync.WaitGroup

	mu      sync.Mutex
	pending map[string]chan *jsonrpc.Response
	closed  bool
}

// NewConn wraps inner; h may be nil when the peer sends no bus requests.
func NewConn(inner mcp.Connection, h Handler) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &Conn{inner: inner, handle: h, sem: make(chan struct{}, MaxConcurrent),
		ctx: ctx, cancel: cancel, pending: map[string]chan *jsonrpc.Response{}}
}

// Transport returns an mcp.Transport that yields c, for Server.Connect or
// Client.Connect.
func (c *Conn) Transport() mcp.Transport { return connTransport{c} }

type connTransport struct{ c *Conn }

func (t connTransport) Connect(context.Context) (mcp.Connection, error) { return t.c, nil }

// Done is closed when the connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.ctx.Done() }

// Read returns the next message meant for the MCP session, handling bus
// messages on the way.
func (c *Conn) Read(ctx context.Context) (jsonrpc.Message, error) {
	for {
		msg, err := c.inner.Read(ctx)
		if err != nil {
			c.Close()
			return nil, err
		}
		switch m := msg.(type) {
		case *jsonrpc.Request:
			if strings.HasPrefix(m.Method, MethodPrefix) {
				if err := c.serve(ctx, m); err != nil {
					return nil, err
				}
				continue
			}
		case *jsonrpc.Response:
			if id, ok := m.ID.Raw().(string); ok && strings.HasPrefix(id, idPrefix) {
				c.mu.Lock()
				ch := c.pending[id]
				delete(c.pending, id)
				c.mu.Unlock()
				if ch != nil {
					ch <- m
				}
				continue
			}
		}
		return msg, nil
	}
}

// serve handles one bus request in its own goroutine. When MaxConcurrent
// are already running it answers "busy" at once rather than waiting, so
// that the read loop keeps delivering the responses those requests may be
// waiting for; a peer that floods without reading its answers blocks only
// its own connection's writes.
func (c *Conn) serve(ctx context.Context, req *jsonrpc.Request) error {
	select {
	case c.sem <- struct{}{}:
	default:
		if req.IsCall() {
			return c.inner.Write(ctx, &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{Code: CodeBusy,
				Message: fmt.Sprintf("%s: more than %d bus requests in flight on this connection", req.Method, MaxConcurrent)}})
		}
		return nil
	}
	c.wg.Add(1)
	go func() {
		defer func() { <-c.sem; c.wg.Done() }()
		var result any
		var err error
		if c.handle == nil {
			err = &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: fmt.Sprintf("method %q not served here", req.Method)}
		} else {
			result, err = c.handle(c.ctx, req.Method, req.Params)
		}
		if !req.IsCall() {
			return
		}
		resp := &jsonrpc.Response{ID: req.ID}
		if err != nil {
			var we *jsonrpc.Error
			if !errors.As(err, &we) {
				we = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
			}
			resp.Error = we
		} else {
			raw, merr := json.Marshal(result)
			if merr != nil {
				resp.Error = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: merr.Error()}
			} else {
				resp.Result = raw
			}
		}
		_ = c.inner.Write(c.ctx, resp)
	}()
	return nil
}

// Write sends a message of the MCP session.
func (c *Conn) Write(ctx context.Context, msg jsonrpc.Message) error {
	return c.inner.Write(ctx, msg)
}

// Call sends a bus request to the peer and decodes its result into out
// (which may be nil).
func (c *Conn) Call(ctx context.Context, method string, params, out any) error {
	id := idPrefix + strconv.FormatInt(c.nextID.Add(1), 10)
	jid, err := jsonrpc.MakeID(id)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("%s: encoding params: %w", method, err)
	}
	ch := make(chan *jsonrpc.Response, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	if err := c.inner.Write(ctx, &jsonrpc.Request{ID: jid, Method: method, Params: raw}); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case resp := <-ch:
		if resp.Error != nil {
			return fmt.Errorf("%s: %w", method, resp.Error)
		}
		if out != nil {
			if err := json.Unmarshal(resp.Result, out); err != nil {
				return fmt.Errorf("%s: decoding result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return fmt.Errorf("%s: %w", method, ErrClosed)
	}
}

// Close closes the connection and waits for the bus handlers it started.
func (c *Conn) Close() error {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	err := c.inner.Close()
	if !already {
		c.wg.Wait()
	}
	return err
}

// SessionID implements mcp.Connection.
func (c *Conn) SessionID() string { return c.inner.SessionID() }
