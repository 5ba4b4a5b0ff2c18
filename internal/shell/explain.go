package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// maxParts bounds the parts of a command `??` explains.
const maxParts = 24

// parts splits a command line into the pieces `??` explains, from its
// syntax tree: each command name and argument, each redirection and each
// operator joining commands, in order.
func parts(f *syntax.File) []string {
	var out []string
	pr := syntax.NewPrinter()
	print := func(n syntax.Node) string {
		var b bytes.Buffer
		if err := pr.Print(&b, n); err != nil {
			return ""
		}
		return strings.TrimSpace(b.String())
	}
	var stmt func(st *syntax.Stmt)
	stmt = func(st *syntax.Stmt) {
		if st.Negated {
			out = append(out, "!")
		}
		switch c := st.Cmd.(type) {
		case *syntax.CallExpr:
			for _, a := range c.Assigns {
				out = append(out, print(a))
			}
			for _, w := range c.Args {
				out = append(out, print(w))
			}
		case *syntax.BinaryCmd:
			stmt(c.X)
			out = append(out, c.Op.String())
			stmt(c.Y)
		case nil:
		default:
			out = append(out, print(c))
		}
		for _, r := range st.Redirs {
			n := ""
			if r.N != nil {
				n = r.N.Value
			}
			target := ""
			if r.Word != nil {
				target = print(r.Word)
			}
			out = append(out, n+r.Op.String()+target)
		}
		if st.Background {
			out = append(out, "&")
		}
	}
	for i, st := range f.Stmts {
		if i > 0 {
			out = append(out, ";")
		}
		stmt(st)
	}
	if len(out) > maxParts {
		out = out[:maxParts]
	}
	return out
}

// explainSchema asks for one explanation per part, keyed "1".."n": the
// parts themselves come from the tree, the model only fills the text.
func explainSchema(n int) json.RawMessage {
	var props, req []string
	for i := 1; i <= n; i++ {
		k := strconv.Quote(strconv.Itoa(i))
		props = append(props, k+`:{"type":"string","maxLength":160}`)
		req = append(req, k)
	}
	return json.RawMessage(`{"type":"object","properties":{` + strings.Join(props, ",") +
		`},"required":[` + strings.Join(req, ",") + `],"additionalProperties":false}`)
}

// explain is `?? [command]`: the last command line when none is given.
func (s *Shell) explain(ctx context.Context, sigs <-chan os.Signal, tty io.Writer, cmd string) {
	if cmd == "" {
		s.ai.mu.Lock()
		if n := len(s.ai.recent); n > 0 {
			cmd = s.ai.recent[n-1]
		}
		s.ai.mu.Unlock()
		if cmd == "" {
			fmt.Fprintln(tty, "usage: ?? COMMAND (or after running one)")
			return
		}
	}
	f, err := syntax.NewParser().Parse(strings.NewReader(cmd), "")
	if err != nil {
		fmt.Fprintln(tty, "ai:", err)
		return
	}
	ps := parts(f)
	if len(ps) == 0 {
		fmt.Fprintln(tty, "ai: nothing to explain")
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Explain each numbered part of this shell command in a few words:\n%s\n", cmd)
	for i, p := range ps {
		fmt.Fprintf(&b, "%d: %s\n", i+1, p)
	}
	out := s.ask(ctx, sigs, tty, b.String(), explainSchema(len(ps)))
	if out == "" {
		return
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		fmt.Fprintf(tty, "ai: the answer is not an explanation: %v\n", err)
		return
	}
	width := 0
	for _, p := range ps {
		width = max(width, min(len(p), 30))
	}
	for i, p := range ps {
		fmt.Fprintf(tty, "  %-*s  %s\n", width, printable(p), strings.Join(strings.Fields(printable(got[strconv.Itoa(i+1)])), " "))
	}
	fmt.Fprintln(tty, riskLine(s.classifier().Classify(cmd)))
}
