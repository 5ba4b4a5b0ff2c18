package bus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	busapi "github.com/raym33/ainative/client/bus"
	"golang.org/x/sys/unix"
)

// peer is a connected process pinned by a pidfd: while the pidfd reports
// the process alive, /proc/PID is that process and not a later one that
// reused its pid.
type peer struct {
	busapi.Identity
	pidfd int // -1 when the kernel gave none
}

// errExited is returned when the pinned process has exited, so its pid may
// name another process now.
var errExited = errors.New("the calling process has exited")

// peerOf reads the identity of a Unix-socket peer from the kernel:
// SO_PEERCRED for uid, gid and pid, SO_PEERPIDFD (Linux 6.5+) or
// pidfd_open for the pin, then exe and groups from /proc checked against
// the pin. Nothing the peer sends is consulted.
func peerOf(c net.Conn) (*peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("peer identity: %T is not a Unix socket", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("peer identity: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	pidfd := -1
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD); err == nil {
			pidfd = v
		}
	}); err != nil {
		return nil, fmt.Errorf("peer identity: %w", err)
	}
	if credErr != nil {
		return nil, fmt.Errorf("peer identity: SO_PEERCRED: %w", credErr)
	}
	if pidfd < 0 {
		// Older kernels: pin the pid now; the liveness checks below still
		// catch a process that exited before we read /proc.
		pidfd, err = unix.PidfdOpen(int(cred.Pid), 0)
		if err != nil {
			return nil, fmt.Errorf("peer identity: pidfd of pid %d: %w", cred.Pid, err)
		}
	}
	p := &peer{Identity: busapi.Identity{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}, pidfd: pidfd}
	if err := p.load(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// load reads exe and groups from /proc and checks that the pinned process
// was alive throughout.
func (p *peer) load() error {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.PID))
	if err != nil {
		exe = "" // kernel threads and some sandboxes hide it; policy treats "" as no executable
	}
	p.Exe = strings.TrimSuffix(exe, " (deleted)")
	status, err := p.readProc("status")
	if err != nil {
		return err
	}
	p.Groups = parseGroups(status)
	return nil
}

// alive reports whether the pinned process is still running: a pidfd
// becomes readable when its process exits.
func (p *peer) alive() bool {
	if p.pidfd < 0 {
		return false
	}
	fds := []unix.PollFd{{Fd: int32(p.pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n == 0
}

// readProc reads /proc/PID/name of the pinned process, failing with
// errExited when it exited before the read ended (the pid may then name
// another process).
func (p *peer) readProc(name string) ([]byte, error) {
	if !p.alive() {
		return nil, errExited
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", p.PID, name))
	if !p.alive() {
		return nil, errExited
	}
	if err != nil {
		return nil, fmt.Errorf("reading /proc/%d/%s: %w", p.PID, name, err)
	}
	return b, nil
}

// cwd is the pinned process's working directory.
func (p *peer) cwd() (string, error) {
	if !p.alive() {
		return "", errExited
	}
	d, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", p.PID))
	if !p.alive() {
		return "", errExited
	}
	return d, err
}

func (p *peer) close() {
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
}

// parseGroups reads the supplementary groups from /proc/PID/status.
func parseGroups(status []byte) []uint32 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "Groups:")
		if !ok {
			continue
		}
		var gs []uint32
		for _, f := range strings.Fields(rest) {
			if g, err := strconv.ParseUint(f, 10, 32); err == nil {
				gs = append(gs, uint32(g))
			}
		}
		return gs
	}
	return nil
}
