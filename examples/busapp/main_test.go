package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raym33/ainative/client/bus"
	internalbus "github.com/raym33/ainative/internal/bus"
	"github.com/raym33/ainative/internal/bus/bustest"
)

func TestBusapp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sock := filepath.Join(t.TempDir(), "bus.sock")
	bustest.Serve(t, internalbus.Config{Dir: t.TempDir()}, sock)

	app, err := bus.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	dir := t.TempDir()
	if err := run(ctx, app, dir); err != nil {
		t.Fatal(err)
	}
	user, err := bus.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close()
	items, err := user.Query(ctx, bus.QueryParams{Kinds: []string{"cwd"}})
	if wd, _ := os.Getwd(); err != nil || len(items) != 1 || items[0].Text != wd {
		t.Fatalf("context %+v, %v", items, err)
	}
	text, err := user.CallTool(ctx, "busapp.greet", map[string]any{})
	if err != nil || !strings.HasPrefix(text, "hello, uid ") {
		t.Fatalf("greet: %q, %v", text, err)
	}
	notes := filepath.Join(dir, "busapp-notes.txt")
	if _, err := user.CallTool(ctx, "busapp.note", map[string]any{"text": "hi"}); err == nil || !strings.Contains(err.Error(), "no consent agent") {
		t.Fatalf("note without consent: %v", err)
	}
	if _, err := os.Stat(notes); err == nil {
		t.Fatal("note written without consent")
	}
	agent, err := bus.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	asked := make(chan bus.ConsentRequest, 1)
	if err := agent.ServeConsent(ctx, func(_ context.Context, r bus.ConsentRequest) (bool, error) { asked <- r; return true, nil }); err != nil {
		t.Fatal(err)
	}
	if text, err := user.CallTool(ctx, "busapp.note", map[string]any{"text": "hi"}); err != nil || text != "noted" {
		t.Fatalf("note with consent: %q, %v", text, err)
	}
	if r := <-asked; r.Tool != "busapp.note" || r.Effect != bus.EffectWrite || r.Caller.PID != int32(os.Getpid()) {
		t.Fatalf("consent request %+v", r)
	}
	if b, err := os.ReadFile(notes); err != nil || string(b) != "hi\n" {
		t.Fatalf("notes %q, %v", b, err)
	}
}
