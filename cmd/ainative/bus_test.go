package main

import (
	"bufio"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/bus"
	"github.com/raym33/ainative/internal/bus/bustest"
)

// TestBusAuditCLI: a denied call shows up in `bus audit`, in both forms,
// and the filters apply.
func TestBusAuditCLI(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus.sock")
	t.Setenv("AINATIVE_BUS", sock)
	bustest.Serve(t, bus.Config{Dir: dir, Policy: &bus.Policy{Rules: []bus.Rule{{Tools: []string{"system_info"}, Action: bus.Deny}}}}, sock)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := busapi.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CallTool(ctx, "system_info", map[string]any{}); err == nil {
		t.Fatal("denied tool ran")
	}
	if _, err := c.CallTool(ctx, "list_dir", map[string]any{"path": dir}); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "", "bus", "audit", "--json", "--decision", "denied")
	if err != nil {
		t.Fatal(err)
	}
	var recs []busapi.AuditRecord
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r busapi.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 1 || recs[0].Target != "system_info" || !strings.Contains(recs[0].Detail, "policy rule 1") {
		t.Fatalf("records %+v", recs)
	}
	out, err = runCLI(t, "", "bus", "audit", "--tool", "list_dir")
	if err != nil || !strings.Contains(out, "DECISION") || !strings.Contains(out, "allowed") || strings.Contains(out, "system_info") {
		t.Fatalf("table: %v\n%s", err, out)
	}
}

func TestAskNeedsModel(t *testing.T) {
	t.Setenv("AINATIVE_MODEL", "")
	if _, err := runCLI(t, "", "ask", "hello"); err == nil || !strings.Contains(err.Error(), "--model") {
		t.Fatalf("ask without a model: %v", err)
	}
}
