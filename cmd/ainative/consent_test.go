package main

import (
	"bufio"
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/bus"
	"github.com/raym33/ainative/internal/bus/bustest"
)

// TestBusConsentTerminal: a tool call between two processes needs consent;
// `ainative bus consent`, a real process on a terminal, shows the request
// and a person's "y" lets it through; the audit log has both steps.
func TestBusConsentTerminal(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus.sock")
	bustest.Serve(t, bus.Config{Dir: dir}, sock)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cmd := cliCommand([]string{"AINATIVE_BUS=" + sock}, "bus", "consent")
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait(); tty.Close() }()
	lines := make(chan string, 64)
	go func() {
		r := bufio.NewReader(tty)
		for {
			s, err := r.ReadString(' ')
			if s != "" {
				lines <- s
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	waitFor := func(want string) string {
		t.Helper()
		var seen strings.Builder
		for {
			select {
			case s, ok := <-lines:
				if !ok {
					t.Fatalf("terminal closed before %q; saw %q", want, seen.String())
				}
				seen.WriteString(s)
				if strings.Contains(seen.String(), want) {
					return seen.String()
				}
			case <-ctx.Done():
				t.Fatalf("no %q on the terminal; saw %q", want, seen.String())
			}
		}
	}
	waitFor("Ctrl-C")

	provider, err := busapi.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer provider.Close()
	if err := provider.Register(ctx, busapi.ToolSpec{Name: "demo.write", Effect: busapi.EffectWrite},
		func(_ context.Context, call busapi.ToolCallParams) (busapi.ToolResult, error) {
			return busapi.ToolResult{Text: "written for pid " + strconv.Itoa(int(call.Caller.PID))}, nil
		}); err != nil {
		t.Fatal(err)
	}
	caller, err := busapi.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	result := make(chan error, 1)
	var text string
	go func() {
		var err error
		text, err = caller.CallTool(ctx, "demo.write", map[string]any{"x": 1})
		result <- err
	}()
	shown := waitFor("[y/N]")
	if !strings.Contains(shown, "demo.write (write)") || !strings.Contains(shown, `{"x":1}`) {
		t.Fatalf("consent prompt %q", shown)
	}
	tty.Write([]byte("y\n"))
	if err := <-result; err != nil || !strings.HasPrefix(text, "written for pid ") {
		t.Fatalf("call: %q, %v", text, err)
	}
	recs, err := caller.Audit(ctx, busapi.AuditQuery{Target: "demo.write"})
	if err != nil || len(recs) != 2 || recs[0].Decision != busapi.DecisionAsked || recs[1].Decision != busapi.DecisionApproved {
		t.Fatalf("audit %+v %v", recs, err)
	}
}
