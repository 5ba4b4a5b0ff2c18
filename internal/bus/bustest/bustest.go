// Package bustest starts a tool bus for tests, as the daemon does: one
// place for the listen, serve and shutdown that every bus test needs.
package bustest

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/raym33/ainative/internal/bus"
)

// Serve starts a bus with cfg on the Unix socket sock and returns it; it
// serves until the test ends, and is then stopped and closed.
func Serve(t testing.TB, cfg bus.Config, sock string) *bus.Server {
	t.Helper()
	s, err := bus.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, net.ErrClosed) {
			t.Errorf("bus: Serve: %v", err)
		}
		s.Close()
	})
	return s
}
