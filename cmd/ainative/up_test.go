package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// `ainative up` ends on SIGTERM, stopping its services, even while its
// shell is waiting for input.
func TestUpStopsOnSIGTERM(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	config := filepath.Join(dir, "services.json")
	svc := fmt.Sprintf(`{"services": [{"name": "sleeper", "command": ["/bin/sh", "-c", "echo $$ > %s; exec %s 600"]}]}`, pidFile, sleep)
	if err := os.WriteFile(config, []byte(svc), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := cliCommand(nil, "up", "--config", config, "--status-addr", "", "--socket", filepath.Join(dir, "init.sock"))
	// Standard input is a pipe that stays open and silent: the shell
	// waits on it for ever.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()

	// The deadlines below guard against a hang; they measure nothing.
	var pid int
	deadline := time.Now().Add(time.Minute)
	for pid == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the service never started; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	// A pidfd, not kill(pid, 0), tells whether the service is gone: the
	// pid could be reused by then. The service runs until SIGTERM, so
	// the pid still names it now.
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if pidfdExited(t, fd) {
		t.Fatalf("service %d ended before SIGTERM; stderr:\n%s", pid, stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		t.Fatalf("ainative up still running a minute after SIGTERM; stderr:\n%s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit status %d, want %d; stderr:\n%s", code, 128+int(syscall.SIGTERM), stderr.String())
	}
	if !pidfdExited(t, fd) {
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		t.Errorf("service process %d outlived ainative up", pid)
	}
}

// pidfdExited reports whether the process of a pidfd has ended.
func pidfdExited(t *testing.T, fd int) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
}

// With the status port busy, `up` says it could not listen there, and
// where it did listen, instead of a URL that reaches the other program.
func TestUpStatusPortBusy(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	socket := filepath.Join(t.TempDir(), "init.sock")
	cmd := cliCommand(nil, "up", "--config", writeConfig(t, `{"services": []}`), "--status-addr", addr, "--socket", socket)
	cmd.Stdin = strings.NewReader("exit 0\n") // the shell ends at once
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "http://"+addr) {
		t.Errorf("up printed the busy port's URL:\n%s", out)
	}
	for _, want := range []string{"could not listen on " + addr, "address already in use", "status socket " + socket} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func writeConfig(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "services.json")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoopbackOnly(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true,
		":8080": false, "0.0.0.0:8080": false, "192.0.2.1:80": false, "nonsense": false,
	} {
		if got := loopbackOnly(addr); got != want {
			t.Errorf("loopbackOnly(%q) = %v", addr, got)
		}
	}
}

// The main job end to end: `ainative up` starts the runtime, and in its
// shell a model imported from a file answers through `ainative run`.
func TestUpRunsModels(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "ainative")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	model := filepath.Join(dir, "tiny.gguf")
	if out, err := exec.Command(bin, "gguf", "synth", "--arch", "llama", "--shape", "tiny", "--type", "Q8_0", "--out", model).CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "up", "--status-addr", "", "--socket", filepath.Join(dir, "init.sock"))
	// The runtime on the user's socket only (no TCP port to collide
	// with), the store in the test's directory.
	cmd.Env = append(os.Environ(), "AINATIVE_HOME="+filepath.Join(dir, "home"), "XDG_RUNTIME_DIR="+filepath.Join(dir, "run"),
		"AINATIVE_LISTEN=127.0.0.1:0", "AINATIVE_HOST=")
	cmd.Stdin = strings.NewReader("ainative import " + model + " tiny\n" +
		"for i in 1 2 3 4 5 6 7 8 9 10; do ainative ps >/dev/null 2>&1 && break; sleep 0.5; done\n" +
		"ainative run --no-pull tiny 'hello there' > " + filepath.Join(dir, "answer") + "\necho run=$?\nainative ps --json\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	answer, _ := os.ReadFile(filepath.Join(dir, "answer"))
	if !strings.Contains(string(out), "imported tiny:latest") || !strings.Contains(string(out), "run=0") ||
		len(strings.TrimSpace(string(answer))) == 0 || !strings.Contains(string(out), `"tiny:latest"`) {
		t.Fatalf("up session:\n%s\nanswer: %q", out, answer)
	}
}
