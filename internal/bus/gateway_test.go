package bus

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	busapi "github.com/raym33/ainative/client/bus"
)

// TestGatewayInProcess: with no bus running, the gateway starts one in
// process; the official SDK client lists and calls tools through it, and
// run_command, with no consent path, never runs.
func TestGatewayInProcess(t *testing.T) {
	t.Setenv("AINATIVE_BUS", filepath.Join(t.TempDir(), "none.sock"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, closeFn, err := ConnectGateway(ctx, Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if _, err := c.Publish(ctx, busapi.PublishParams{Kind: "note", Text: "visible", Sensitivity: busapi.Private}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, busapi.PublishParams{Kind: "token", Text: "hidden", Sensitivity: busapi.Secret}); err != nil {
		t.Fatal(err)
	}
	ct, st := mcp.NewInMemoryTransports()
	ss, err := NewGateway(c).Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "outside"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 4 {
		t.Fatalf("tools %+v, %v", tools, err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "system_info", Arguments: map[string]any{}})
	if err != nil || res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "{") {
		t.Fatalf("system_info: %+v, %v", res, err)
	}
	mark := filepath.Join(t.TempDir(), "ran")
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "run_command", Arguments: map[string]any{"command": "touch " + mark}})
	if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "no consent agent") {
		t.Fatalf("run_command: %+v, %v", res, err)
	}
	if _, err := os.Stat(mark); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("run_command ran without consent: %v", err)
	}
	rs, err := cs.ListResources(ctx, nil)
	if err != nil || len(rs.Resources) != 1 {
		t.Fatalf("resources %+v, %v (want the private note, not the secret)", rs, err)
	}
	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: rs.Resources[0].URI})
	if err != nil || rr.Contents[0].Text != "visible" {
		t.Fatalf("read %+v, %v", rr, err)
	}
	// A gateway never answers consent.
	if err := c.ServeConsent(ctx, func(context.Context, busapi.ConsentRequest) (bool, error) { return true, nil }); err == nil {
		t.Fatal("gateway registered as consent agent")
	}
}
