package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUpHelper is `ainative up` run as a child process by the tests below
// (the helper-process pattern of os/exec's tests); it skips otherwise.
func TestUpHelper(t *testing.T) {
	args := os.Getenv("AINATIVE_UP_HELPER")
	if args == "" {
		t.Skip("helper process for TestUpStopsOnSIGTERM")
	}
	root := newRootCmd()
	root.SetArgs(strings.Split(args, "\n"))
	os.Exit(exitCode(root.Execute()))
}

// `ainative up` ends on SIGTERM, stopping its services, even while its
// shell is waiting for input.
func TestUpStopsOnSIGTERM(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	config := filepath.Join(dir, "services.json")
	svc := fmt.Sprintf(`{"services": [{"name": "sleeper", "command": ["/bin/sh", "-c", "echo $$ > %s; exec %s 600"]}]}`, pidFile, sleep)
	if err := os.WriteFile(config, []byte(svc), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUpHelper$")
	cmd.Env = append(os.Environ(), "AINATIVE_UP_HELPER="+strings.Join([]string{
		"up", "--config", config, "--status-addr", "", "--socket", filepath.Join(dir, "init.sock")}, "\n"))
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

	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for pid == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the service never started; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("ainative up still running 10 s after SIGTERM; stderr:\n%s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit status %d, want %d; stderr:\n%s", code, 128+int(syscall.SIGTERM), stderr.String())
	}
	if err := syscall.Kill(pid, 0); err == nil {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("service process %d outlived ainative up", pid)
	}
}
