package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	busapi "github.com/raym33/ainative/client/bus"
)

// NewGateway returns an MCP server for outside clients (editors, agents)
// that relays tools and context resources through c, a bus connection
// that has declared itself a gateway: the bus applies the policy of the
// user running the gateway, hides secret items from it and never lets it
// answer consent.
func NewGateway(c *busapi.Client) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "ainative", Version: "1"}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}, Resources: &mcp.ResourceCapabilities{}},
		Logger:       slog.New(slog.DiscardHandler),
	})
	cs := c.Session()
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			switch method {
			case "tools/list":
				return cs.ListTools(ctx, nil)
			case "tools/call":
				if r, ok := req.(*mcp.CallToolRequest); ok && r.Params != nil {
					return cs.CallTool(ctx, &mcp.CallToolParams{Name: r.Params.Name, Arguments: r.Params.Arguments})
				}
			case "resources/list":
				return cs.ListResources(ctx, nil)
			case "resources/read":
				if r, ok := req.(*mcp.ReadResourceRequest); ok && r.Params != nil {
					return cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: r.Params.URI})
				}
			}
			return next(ctx, method, req)
		}
	})
	return srv
}

// ConnectGateway connects to the running bus as a gateway, or, when none
// answers, starts one in this process (with cfg) reached through a socket
// pair, so the same kernel identity checks apply. closeFn ends both.
func ConnectGateway(ctx context.Context, cfg Config) (c *busapi.Client, closeFn func(), err error) {
	c, err = busapi.FromEnvironment(ctx)
	if err == nil {
		if _, err := c.Hello(ctx, busapi.RoleGateway); err != nil {
			c.Close()
			return nil, nil, err
		}
		return c, func() { c.Close() }, nil
	}
	if !errors.Is(err, busapi.ErrNoBus) {
		return nil, nil, err
	}
	s, err := New(cfg)
	if err != nil {
		return nil, nil, err
	}
	ours, theirs, err := socketPair()
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.ServeConn(sctx, theirs) }()
	stop := func() { cancel(); ours.Close(); <-done; s.Close() }
	c, err = busapi.NewClient(ctx, ours)
	if err == nil {
		_, err = c.Hello(ctx, busapi.RoleGateway)
	}
	if err != nil {
		stop()
		return nil, nil, err
	}
	return c, func() { c.Close(); stop() }, nil
}

func socketPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "bus")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			if i == 1 {
				conns[0].Close()
			}
			return nil, nil, err
		}
		conns[i] = c
	}
	return conns[0], conns[1], nil
}
