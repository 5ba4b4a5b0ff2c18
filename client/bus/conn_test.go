package bus

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestConnBusyAndCall: requests beyond MaxConcurrent get CodeBusy at once
// while the read loop keeps delivering responses; a Call gets its answer.
func TestConnBusyAndCall(t *testing.T) {
	a, b := net.Pipe()
	release := make(chan struct{})
	conn := func(nc net.Conn, h Handler) *Conn {
		inner, err := (&mcp.IOTransport{Reader: nc, Writer: nc}).Connect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return NewConn(inner, h)
	}
	server := conn(a, func(ctx context.Context, method string, _ json.RawMessage) (any, error) {
		if method == "ainative/block" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return map[string]string{"method": method}, nil
	})
	client := conn(b, nil)
	defer client.Close()
	defer server.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Both ends need a reader; stand in for the MCP sessions.
	for _, c := range []*Conn{server, client} {
		go func() {
			for {
				if _, err := c.Read(ctx); err != nil {
					return
				}
			}
		}()
	}
	errs := make(chan error, MaxConcurrent)
	for range MaxConcurrent {
		go func() { errs <- client.Call(ctx, "ainative/block", nil, nil) }()
	}
	// Wait until all slots are taken, then one more is refused as busy.
	for len(server.sem) < MaxConcurrent {
		time.Sleep(time.Millisecond)
	}
	err := client.Call(ctx, "ainative/other", nil, nil)
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != CodeBusy {
		t.Fatalf("request past the limit: %v", err)
	}
	close(release)
	for range MaxConcurrent {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var out map[string]string
	if err := client.Call(ctx, "ainative/other", struct{}{}, &out); err != nil || out["method"] != "ainative/other" {
		t.Fatalf("call after release: %v %v", out, err)
	}
}
