package initsys

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Reaper collects the zombies of orphaned processes, which the kernel
// reparents to PID 1 (or to a child subreaper). It must not collect the
// processes the supervisor itself started: their exit status belongs to
// exec.Cmd.Wait. So the supervisor starts them through the Reaper, which
// remembers their pids, and a scan of /proc picks out only the other
// zombies.
type Reaper struct {
	mu  sync.Mutex
	own map[int]bool
	pid int
}

// NewReaper returns a reaper for the children of the calling process.
func NewReaper() *Reaper {
	return &Reaper{own: make(map[int]bool), pid: os.Getpid()}
}

// start starts cmd and records its pid; holding the lock across Start
// means a scan cannot see the new process's zombie before it is recorded.
func (r *Reaper) start(cmd *exec.Cmd) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	r.own[cmd.Process.Pid] = true
	return nil
}

// forget drops pid once exec.Cmd.Wait has collected it.
func (r *Reaper) forget(pid int) {
	r.mu.Lock()
	delete(r.own, pid)
	r.mu.Unlock()
}

// Run reaps on every SIGCHLD, and every few seconds in case a signal was
// coalesced, until ctx is done.
func (r *Reaper) Run(ctx context.Context) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		r.Reap()
		select {
		case <-ctx.Done():
			return
		case <-sigs:
		case <-tick.C:
		}
	}
}

// Reap collects every zombie child that the supervisor did not start and
// returns how many it collected.
func (r *Reaper) Reap() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, pid := range zombieChildren(r.pid) {
		if r.own[pid] {
			continue
		}
		var ws syscall.WaitStatus
		if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); err == nil && got == pid {
			n++
		}
	}
	return n
}

// zombieChildren lists the children of parent in state Z, from /proc.
func zombieChildren(parent int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		state, ppid, ok := parseStat(string(b))
		if !ok || state != 'Z' || ppid != parent {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// parseStat extracts the state and parent pid from /proc/PID/stat. The
// command name is in parentheses and may itself contain spaces and
// parentheses, so the fields are read after the last ')'.
func parseStat(s string) (state byte, ppid int, ok bool) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 2 || len(fields[0]) != 1 {
		return 0, 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return 0, 0, false
	}
	return fields[0][0], ppid, true
}
