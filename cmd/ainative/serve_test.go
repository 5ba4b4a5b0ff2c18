package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raym33/ainative/client"
	"github.com/raym33/ainative/internal/testdata/testmodel"
)

// TestServeAndRun starts the daemon as `ainative serve` does, imports a
// model with `ainative import`, and chats with it through `ainative run`
// and the client package over the Unix socket.
func TestServeAndRun(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AINATIVE_HOME", filepath.Join(dir, "home"))
	if out, err := runCLI(t, "", "import", testmodel.ChatModel(t, dir), "tiny"); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "ai.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	f := serveFlags{listen: "127.0.0.1:0", socket: sock, parallel: 2, maxQueue: 8, ctx: 1024, keepAlive: time.Minute, threads: 2}
	go func() { done <- serve(ctx, f, func(tcp net.Addr, _ string) { ready <- tcp }) }()
	var tcp net.Addr
	select {
	case tcp = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}

	// The client package over the socket.
	c, err := client.New("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	var last client.ChatResponse
	err = c.Chat(ctx, &client.ChatRequest{Model: "tiny", Messages: []client.Message{{Role: "user", Content: "hi"}},
		Options: &client.Options{NumPredict: ptrTo(5), Temperature: ptrTo(0.0)}}, func(r client.ChatResponse) error {
		text.WriteString(r.Message.Content)
		last = r
		return nil
	})
	if err != nil || !last.Done || last.EvalCount == 0 {
		t.Fatalf("chat over the socket: %v, last %+v", err, last)
	}

	// `ainative run` through AINATIVE_HOST (TCP), one-shot.
	t.Setenv("AINATIVE_HOST", tcp.String())
	out, err := runCLI(t, "", "run", "tiny", "Say something")
	if err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("run: %v\n%q", err, out)
	}
	out, err = runCLI(t, "", "ps", "--json")
	if err != nil || !strings.Contains(out, `"tiny:latest"`) {
		t.Fatalf("ps: %v\n%s", err, out)
	}
	// A model that is not there: run names it (and does not pull with
	// --no-pull).
	if out, err := runCLI(t, "", "run", "--no-pull", "nope", "x"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("run of a missing model: %v\n%s", err, out)
	}

	// A second daemon on the same socket and port is refused, clearly.
	f2 := f
	f2.listen = tcp.String()
	if err := serve(ctx, f2, nil); err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("second daemon on a busy port: %v", err)
	}
	f2.noTCP = true
	if err := serve(ctx, f2, nil); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("second daemon on a live socket: %v", err)
	}
	// The first still answers.
	if _, err := c.Version(ctx); err != nil {
		t.Fatalf("first daemon after the refused second: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestRunWithoutRuntime(t *testing.T) {
	t.Setenv("AINATIVE_HOST", "unix://"+filepath.Join(t.TempDir(), "none.sock"))
	_, err := runCLI(t, "", "run", "tiny", "hi")
	if err == nil || !strings.Contains(err.Error(), "ainative serve") {
		t.Fatalf("run without a runtime: %v", err)
	}
}

// bench --serve drives the daemon with concurrent clients; every request
// is served and each count reports its figures.
func TestBenchServe(t *testing.T) {
	dir := t.TempDir()
	path := testmodel.ChatModel(t, dir)
	out, err := runCLI(t, "", "bench", "--model", path, "--serve", "1,3", "-p", "16", "-n", "8", "--threads", "2", "--json")
	if err != nil {
		t.Fatalf("bench --serve: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 2 result lines and the chat line:\n%s", out)
	}
	for i, want := range []int{1, 3} {
		var r serveResult
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
			t.Fatal(err)
		}
		if r.Clients != want || r.Failed != 0 || r.Refused != 0 || r.TgTokS <= 0 || r.TTFTP50 <= 0 {
			t.Fatalf("clients %d: %+v", want, r)
		}
	}
	var turns map[string]float64
	if err := json.Unmarshal([]byte(lines[2]), &turns); err != nil || turns["turn1_ttft_ms"] <= 0 || turns["turn2_ttft_ms"] <= 0 {
		t.Fatalf("turns: %v %v", turns, err)
	}
}
