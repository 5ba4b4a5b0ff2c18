package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestCLIHelper is `ainative ARGS...` run as a child process by the tests
// (the helper-process pattern of os/exec's tests), for those that need a
// real process: signals, a terminal. It skips otherwise.
func TestCLIHelper(t *testing.T) {
	args := os.Getenv("AINATIVE_CLI_HELPER")
	if args == "" {
		t.Skip("helper process for the tests that run ainative as a child")
	}
	root := newRootCmd()
	root.SetArgs(strings.Split(args, "\n"))
	if err := root.Execute(); err != nil {
		os.Exit(exitCode(err))
	}
	os.Exit(0)
}

// cliCommand returns a command that runs `ainative args...` in this test
// binary through TestCLIHelper, with env added to this process's.
func cliCommand(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCLIHelper$")
	cmd.Env = append(append(os.Environ(), "AINATIVE_CLI_HELPER="+strings.Join(args, "\n")), env...)
	return cmd
}
