package bus

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// extProcess is a running stdio server.
type extProcess struct {
	cmd    *exec.Cmd
	stdin  *os.File // ours: the server's stdin
	stdout *os.File // ours: the server's stdout
	stderr *tailWriter
	exited chan struct{}
}

// start runs the server's command as its run_as user, in its own process
// group, with only the environment the config gives it.
func (e *extServer) start() (*extProcess, error) {
	uid, gid, home, err := runAsUser(e.cfg.RunAs)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(e.cfg.Command, e.cfg.Args...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home}
	for _, k := range e.cfg.PassEnv {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(e.cfg.Env)) {
		cmd.Env = append(cmd.Env, k+"="+e.cfg.Env[k])
	}
	cmd.Dir = e.cfg.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() == 0 && uid != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	p := &extProcess{cmd: cmd, stdin: inW, stdout: outR, stderr: &tailWriter{log: e.log}, exited: make(chan struct{})}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, p.stderr
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start %s: %w", e.cfg.Command, err)
	}
	go func() { cmd.Wait(); close(p.exited) }()
	return p, nil
}

// stop closes the server's stdin, gives it a moment to leave, then kills
// its process group, and waits for it.
func (p *extProcess) stop() {
	p.stdin.Close()
	t := time.NewTimer(2 * time.Second)
	select {
	case <-p.exited:
		t.Stop()
	case <-t.C:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
	p.stdout.Close()
}

// explain adds the last line the server wrote on stderr, which usually
// says why it failed.
func (p *extProcess) explain(err error) error {
	if p == nil {
		return err
	}
	if line := p.stderr.last(); line != "" {
		return fmt.Errorf("%w (stderr: %s)", err, line)
	}
	return err
}

// tailWriter logs a server's stderr line by line (each cut to 512 bytes)
// and keeps the last line.
type tailWriter struct {
	log *slog.Logger

	mu      sync.Mutex
	partial []byte
	lastLn  string
}

func (w *tailWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			room := 512 - len(w.partial)
			w.partial = append(w.partial, b[:min(len(b), max(room, 0))]...)
			break
		}
		room := 512 - len(w.partial)
		w.partial = append(w.partial, b[:min(i, max(room, 0))]...)
		if line := strings.TrimSpace(string(w.partial)); line != "" {
			w.lastLn = line
			w.log.Debug("bus: MCP server stderr", "line", line)
		}
		w.partial = w.partial[:0]
		b = b[i+1:]
	}
	return n, nil
}

func (w *tailWriter) last() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p := strings.TrimSpace(string(w.partial)); p != "" {
		return p
	}
	return w.lastLn
}

// runAsUser resolves run_as: a user name or number; empty means nobody
// when the bus is root and the bus's own user otherwise. A bus that is not
// root can run servers only as itself.
func runAsUser(runAs string) (uid, gid uint32, home string, err error) {
	euid := os.Geteuid()
	if runAs == "" {
		if euid != 0 {
			return uint32(euid), uint32(os.Getegid()), homeOf(strconv.Itoa(euid)), nil
		}
		runAs = "nobody"
	}
	var u *user.User
	if n, perr := strconv.ParseUint(runAs, 10, 32); perr == nil {
		u, err = user.LookupId(runAs)
		if err != nil {
			u = &user.User{Uid: runAs, Gid: strconv.FormatUint(n, 10), HomeDir: "/"}
		}
	} else {
		u, err = user.Lookup(runAs)
		if err != nil {
			if runAs != "nobody" {
				return 0, 0, "", fmt.Errorf("run_as %q: %w", runAs, err)
			}
			u = &user.User{Uid: "65534", Gid: "65534", HomeDir: "/"}
		}
	}
	uv, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gv, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, "", fmt.Errorf("run_as %q: uid %q gid %q are not numbers", runAs, u.Uid, u.Gid)
	}
	if euid != 0 && uint32(uv) != uint32(euid) {
		return 0, 0, "", fmt.Errorf("run_as %q: the bus runs as uid %d and cannot start a server as uid %d", runAs, euid, uv)
	}
	home = u.HomeDir
	if home == "" {
		home = "/"
	}
	return uint32(uv), uint32(gv), home, nil
}

func homeOf(uid string) string {
	if u, err := user.LookupId(uid); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	return "/"
}
