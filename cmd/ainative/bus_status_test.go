package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/bus"
	"github.com/raym33/ainative/internal/bus/bustest"
)

// TestBusStatusCLI: a configured server that cannot start is reported by
// `bus status`, in both forms, while the bus keeps serving.
func TestBusStatusCLI(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus.sock")
	t.Setenv("AINATIVE_BUS", sock)
	servers, err := bus.ParseMCPServers([]byte("[[mcp_server]]\nname = \"broken\"\ncommand = \"/nonexistent/mcp-server\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	bustest.Serve(t, bus.Config{Dir: dir, MCPServers: servers}, sock)
	var res busapi.MCPStatusResult
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := runCLI(t, "", "bus", "status", "--json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		if len(res.Servers) == 1 && res.Servers[0].State == bus.StateFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never failed: %+v", res)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := res.Servers[0]; s.Name != "broken" || s.Transport != "stdio" || !strings.Contains(s.Error, "/nonexistent/mcp-server") {
		t.Fatalf("status %+v", s)
	}
	out, err := runCLI(t, "", "bus", "status")
	if err != nil || !strings.Contains(out, "SERVER") || !strings.Contains(out, "broken") || !strings.Contains(out, "failed") {
		t.Fatalf("table: %v\n%s", err, out)
	}
}
