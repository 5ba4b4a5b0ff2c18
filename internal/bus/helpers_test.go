package bus

import (
	"context"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func testSocketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	a, b, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func mustPidfd(t *testing.T, pid int) int {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// serveOn serves s on a Unix socket at sock, open to every uid (tests
// connect as other users too), until the test ends.
func serveOn(t *testing.T, s *Server, sock string) {
	t.Helper()
	l, err := net.Listen("unix", sock)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		s.Close()
	})
}
