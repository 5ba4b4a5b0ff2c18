// Command busapp is a small app on the ainative bus: it publishes its
// working directory as context and serves two tools, one that only reads
// ("busapp.greet") and one that writes ("busapp.note", which the bus runs
// only after a person consents). Run `ainative bus`, then this, then e.g.
// `ainative ask "greet me"`.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/raym33/ainative/client/bus"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c, err := bus.FromEnvironment(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := run(ctx, c, os.TempDir()); err != nil {
		log.Fatal(err)
	}
	fmt.Println("busapp: serving busapp.greet and busapp.note; Ctrl-C to stop")
	select {
	case <-ctx.Done():
	case <-done(c):
	}
}

func done(c *bus.Client) <-chan struct{} {
	ch := make(chan struct{})
	go func() { c.Wait(); close(ch) }()
	return ch
}

// run publishes context and registers the tools; notes go under dir.
func run(ctx context.Context, c *bus.Client, dir string) error {
	wd, _ := os.Getwd()
	if _, err := c.Publish(ctx, bus.PublishParams{Kind: "cwd", Text: wd, Sensitivity: bus.Private, TTLSeconds: 3600}); err != nil {
		return err
	}
	err := c.Register(ctx, bus.ToolSpec{
		Name: "busapp.greet", Effect: bus.EffectRead, Description: "Greet the caller by uid.",
		InputSchema: json.RawMessage(`{"type":"object","additionalProperties":false}`),
	}, func(_ context.Context, call bus.ToolCallParams) (bus.ToolResult, error) {
		// The caller is who the kernel says, not who the request claims.
		return bus.ToolResult{Text: fmt.Sprintf("hello, uid %d (%s)", call.Caller.UID, call.Caller.Exe)}, nil
	})
	if err != nil {
		return err
	}
	return c.Register(ctx, bus.ToolSpec{
		Name: "busapp.note", Effect: bus.EffectWrite, Description: "Append a line to busapp's notes file.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string","maxLength":1000}},"required":["text"],"additionalProperties":false}`),
	}, func(_ context.Context, call bus.ToolCallParams) (bus.ToolResult, error) {
		var a struct{ Text string }
		if err := json.Unmarshal(call.Arguments, &a); err != nil {
			return bus.ToolResult{}, err
		}
		f, err := os.OpenFile(filepath.Join(dir, "busapp-notes.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return bus.ToolResult{}, err
		}
		defer f.Close()
		if _, err := fmt.Fprintln(f, a.Text); err != nil {
			return bus.ToolResult{}, err
		}
		return bus.ToolResult{Text: "noted"}, nil
	})
}
