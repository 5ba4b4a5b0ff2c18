package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// openAs opens name for reading with the caller's permissions, not the
// bus's: on a locked OS thread it switches the filesystem uid, gid and
// supplementary groups to the caller's (which also drops root's
// CAP_DAC_OVERRIDE for that thread), opens, and switches back. The raw
// syscalls change only this thread, unlike syscall.Setgroups, which Go
// applies to every thread. When the bus is not root, callers are its own
// user (the socket is 0600) and it opens directly.
func openAs(p *peer, name string) (*os.File, error) {
	if os.Geteuid() != 0 || p.UID == 0 {
		if os.Geteuid() != 0 && uint32(os.Geteuid()) != p.UID {
			return nil, fmt.Errorf("open %s: the bus runs as uid %d and cannot act as uid %d", name, os.Geteuid(), p.UID)
		}
		return os.Open(name)
	}
	runtime.LockOSThread()
	groups := p.Groups
	if len(groups) == 0 {
		groups = []uint32{p.GID}
	}
	restore := func() bool {
		_, _, e1 := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0)
		unix.RawSyscall(unix.SYS_SETFSGID, 0, 0, 0)
		unix.RawSyscall(unix.SYS_SETFSUID, 0, 0, 0)
		// setfs*id return the previous id; read them back to check.
		u, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, ^uintptr(0), 0, 0)
		g, _, _ := unix.RawSyscall(unix.SYS_SETFSGID, ^uintptr(0), 0, 0)
		return e1 == 0 && u == 0 && g == 0
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(unsafePointer(groups)), 0); e != 0 {
		restore()
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("open %s as uid %d: setgroups: %w", name, p.UID, e)
	}
	unix.RawSyscall(unix.SYS_SETFSGID, uintptr(p.GID), 0, 0)
	unix.RawSyscall(unix.SYS_SETFSUID, uintptr(p.UID), 0, 0)
	u, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, ^uintptr(0), 0, 0)
	var f *os.File
	var err error
	if uint32(u) != p.UID {
		err = fmt.Errorf("open %s: could not take uid %d", name, p.UID)
	} else {
		f, err = os.OpenFile(name, os.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	if restore() {
		runtime.UnlockOSThread()
	} // else: the goroutine ends with the thread locked and Go discards the thread
	return f, err
}

// Limits of run_command.
const (
	CommandTimeout   = 30 * time.Second
	CommandOutputCap = 64 << 10
)

// secretEnv reports whether an environment variable probably holds a
// secret; run_command drops those from the caller's environment.
func secretEnv(name string) bool {
	n := strings.ToUpper(name)
	for _, w := range []string{"TOKEN", "SECRET", "PASSW", "KEY", "CREDENTIAL", "AUTH", "COOKIE", "SESSION"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return strings.HasPrefix(n, "AWS_") || strings.HasPrefix(n, "SSH_") || strings.HasPrefix(n, "GPG_")
}

// callerEnv is the caller's environment without secrets; a minimal one
// when it cannot be read.
func callerEnv(p *peer) []string {
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	raw, err := p.readProc("environ")
	if err != nil || len(raw) == 0 {
		return env
	}
	env = nil
	for _, kv := range bytes.Split(raw, []byte{0}) {
		name, _, ok := strings.Cut(string(kv), "=")
		if ok && !secretEnv(name) {
			env = append(env, string(kv))
		}
	}
	return env
}

// cappedBuffer keeps the first n bytes written and counts the rest.
type cappedBuffer struct {
	buf     bytes.Buffer
	n       int
	dropped int
}

func (c *cappedBuffer) Write(b []byte) (int, error) {
	n := len(b)
	room := c.n - c.buf.Len()
	if room < len(b) {
		c.dropped += len(b) - max(room, 0)
		b = b[:max(room, 0)]
	}
	c.buf.Write(b)
	return n, nil
}

// runAs runs a shell command as the caller (uid, gid, groups), in dir,
// with the caller's environment stripped of secrets, a time limit and an
// output cap. It returns combined output and the exit status.
func runAs(ctx context.Context, p *peer, command, dir string, timeout time.Duration) (string, int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Env = callerEnv(p)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: p.UID, Gid: p.GID, Groups: p.Groups}
	} else if uint32(os.Geteuid()) != p.UID {
		return "", -1, fmt.Errorf("run_command: the bus runs as uid %d and cannot act as uid %d", os.Geteuid(), p.UID)
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	out := &cappedBuffer{n: CommandOutputCap}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	text := out.buf.String()
	if out.dropped > 0 {
		text += fmt.Sprintf("\n[output cut: %d more bytes]", out.dropped)
	}
	if ctx.Err() == context.DeadlineExceeded {
		return text, -1, fmt.Errorf("run_command: killed after %s", timeout)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return text, ee.ExitCode(), nil
	}
	if err != nil {
		return text, -1, fmt.Errorf("run_command: %w", err)
	}
	return text, 0, nil
}
