package client

import (
	"context"
	"net/url"
	"strconv"
)

// OnBehalfOfHeader names the process a relay (the AI bus) sends a request
// for, so that the runtime's scheduler shares its capacity fairly between
// the processes behind the relay rather than treating the relay as one
// client. The runtime honours it only from a peer it trusts to relay (by
// default root or the daemon's own uid, as the kernel reports them on the
// Unix socket); from anyone else it is ignored.
const OnBehalfOfHeader = "X-Ainative-On-Behalf-Of"

// Caller is the identity of a relayed request's originator.
type Caller struct {
	UID, GID uint32
	PID      int32
	Exe      string
}

// Encode returns the header value: URL query syntax, so that any
// executable path travels unambiguously ("uid=1000&gid=1000&pid=42&exe=%2Fusr%2Fbin%2Ffoo").
func (c Caller) Encode() string {
	v := url.Values{}
	v.Set("uid", strconv.FormatUint(uint64(c.UID), 10))
	v.Set("gid", strconv.FormatUint(uint64(c.GID), 10))
	v.Set("pid", strconv.FormatInt(int64(c.PID), 10))
	if c.Exe != "" {
		v.Set("exe", c.Exe)
	}
	return v.Encode()
}

type callerKey struct{}

// OnBehalfOf returns a context whose requests carry OnBehalfOfHeader for
// caller. Only a relay the runtime trusts gains anything by it.
func OnBehalfOf(ctx context.Context, caller Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, caller)
}

func callerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
