package bus

import (
	"net"
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
