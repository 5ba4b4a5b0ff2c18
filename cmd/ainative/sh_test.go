package main

import (
	"os"
	"strings"
	"testing"
)

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
		out, err := cliCommand(nil, c.args...).Output()
		if err != nil || string(out) != c.want {
			t.Errorf("%q: %q, %v; want %q", c.args, out, err, c.want)
		}
	}
	// The test binary stands in for ainative here: $0 is its name.
	out, err := cliCommand(nil, "sh", "-c", "echo $0").Output()
	if base := os.Args[0][strings.LastIndex(os.Args[0], "/")+1:]; err != nil || string(out) != base+"\n" {
		t.Errorf("$0 without NAME: %q, %v; want %q", out, err, base)
	}
}
