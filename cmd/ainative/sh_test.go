package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestShHelper is `ainative` with the arguments in $AINATIVE_SH_HELPER
// (one a line), run as a child process by the tests below; it skips
// otherwise.
func TestShHelper(t *testing.T) {
	args := os.Getenv("AINATIVE_SH_HELPER")
	if args == "" {
		t.Skip("helper process for TestShCommandDollarZero")
	}
	root := newRootCmd()
	root.SetArgs(strings.Split(args, "\n"))
	if err := root.Execute(); err != nil {
		os.Exit(exitCode(err))
	}
	os.Exit(0)
}

// `sh -c COMMAND NAME ARG...` sets $0 to NAME and $1... to the ARGs, as
// POSIX says; without NAME, $0 is the shell's own name (issue 11, item 10).
func TestShCommandDollarZero(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"sh", "-c", `echo "$0|$1|$2|$#"`, "a", "b", "c"}, "a|b|c|2\n"},
		{[]string{"sh", "-c", `echo "$#"`}, "0\n"},
	}
	for _, c := range cases {
		cmd := exec.Command(os.Args[0], "-test.run=^TestShHelper$")
		cmd.Env = append(os.Environ(), "AINATIVE_SH_HELPER="+strings.Join(c.args, "\n"))
		out, err := cmd.Output()
		if err != nil || string(out) != c.want {
			t.Errorf("%q: %q, %v; want %q", c.args, out, err, c.want)
		}
	}
	// The test binary stands in for ainative here: $0 is its name.
	cmd := exec.Command(os.Args[0], "-test.run=^TestShHelper$")
	cmd.Env = append(os.Environ(), "AINATIVE_SH_HELPER=sh\n-c\necho $0")
	out, err := cmd.Output()
	if base := os.Args[0][strings.LastIndex(os.Args[0], "/")+1:]; err != nil || string(out) != base+"\n" {
		t.Errorf("$0 without NAME: %q, %v; want %q", out, err, base)
	}
}
