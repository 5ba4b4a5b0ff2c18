package shell

import (
	"context"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// reader returns r wrapped so that reading it ends once the command is
// interrupted (^C): a built-in reading the terminal or an idle pipe
// would otherwise block in read(2) until input arrives, and the shell
// with it.
func (e *Env) reader(r io.Reader) io.Reader {
	f, ok := r.(*os.File)
	if !ok {
		return ctxReader{ctx: e.Ctx, r: r}
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode().IsRegular() {
		// A regular file is always readable: checking between reads
		// is enough.
		return ctxReader{ctx: e.Ctx, r: r}
	}
	return ctxReader{ctx: e.Ctx, r: r, wait: f}
}

// ctxReader stops reading once ctx is done. With wait set, each read
// first waits (poll(2)) until wait is readable or ctx is done.
type ctxReader struct {
	ctx  context.Context
	r    io.Reader
	wait *os.File
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if c.wait != nil {
		if err := waitReadable(c.ctx, c.wait); err != nil {
			return 0, err
		}
	}
	return c.r.Read(p)
}

// waitReadable blocks until f has data (or end of input, or an error to
// report) or ctx is done, without reading from f: a terminal's input
// must not be consumed by a read that nobody will use. A pipe written on
// cancellation wakes the poll. Polling does not change f's blocking
// mode, which f shares with the programs the shell starts.
func waitReadable(ctx context.Context, f *os.File) error {
	if ctx.Done() == nil {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil // not pollable: read as usual
	}
	var wake [2]int
	if err := unix.Pipe2(wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return err
	}
	woke := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		unix.Write(wake[1], []byte{0})
		close(woke)
	})
	defer func() {
		if !stop() {
			<-woke // the write must not reach a closed (or reused) descriptor
		}
		unix.Close(wake[0])
		unix.Close(wake[1])
	}()
	var perr error
	cerr := rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(wake[0]), Events: unix.POLLIN}}
		for {
			_, perr = unix.Poll(fds, -1)
			if perr != unix.EINTR {
				return
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	return perr
}
