package api

import (
	"context"
	"net"

	"golang.org/x/sys/unix"
)

// PeerCred is a Unix-socket client's identity as the kernel reports it
// (SO_PEERCRED), never as the client claims it.
type PeerCred struct {
	PID, UID, GID int32
}

type peerCredKey struct{}

// ConnContext is an http.Server ConnContext that records the peer
// credentials of Unix-socket connections for the handlers.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || credErr != nil {
		return ctx
	}
	return context.WithValue(ctx, peerCredKey{}, &PeerCred{PID: cred.Pid, UID: int32(cred.Uid), GID: int32(cred.Gid)})
}

// PeerCredFrom returns the credentials ConnContext recorded, or nil for a
// TCP client.
func PeerCredFrom(ctx context.Context) *PeerCred {
	c, _ := ctx.Value(peerCredKey{}).(*PeerCred)
	return c
}
