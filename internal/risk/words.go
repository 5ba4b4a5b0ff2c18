package risk

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// arg is one command-line word as far as it can be known without running
// anything. Paths under the home directory are written with a leading "~"
// whether they were typed as ~, $HOME or ${HOME}.
type arg struct {
	s     string
	known bool         // false when a variable, substitution or arithmetic is involved
	word  *syntax.Word // nil for synthesized args
}

// unknownArg stands for values only known at run time (xargs input, "$1").
var unknownArg = arg{}

func words(ws []*syntax.Word) []arg {
	out := make([]arg, 0, len(ws))
	for _, w := range ws {
		out = append(out, wordArg(w))
	}
	return out
}

func wordArg(w *syntax.Word) arg {
	var b strings.Builder
	known := true
	for i, p := range w.Parts {
		if !part(&b, p, i == 0, false) {
			known = false
		}
	}
	return arg{s: b.String(), known: known, word: w}
}

// part appends the static value of a word part; it reports false when the
// part's value depends on run-time state.
func part(b *strings.Builder, p syntax.WordPart, first, quoted bool) bool {
	switch p := p.(type) {
	case *syntax.Lit:
		v := p.Value
		if quoted {
			v = unescapeQuoted(v)
		} else {
			v = unescape(v)
			if first && strings.HasPrefix(v, "~") {
				v = tilde(v)
			}
		}
		b.WriteString(v)
		return true
	case *syntax.SglQuoted:
		b.WriteString(p.Value)
		return true
	case *syntax.DblQuoted:
		ok := true
		for i, q := range p.Parts {
			if !part(b, q, first && i == 0, true) {
				ok = false
			}
		}
		return ok
	case *syntax.ParamExp:
		if p.Param != nil && !p.Excl && !p.Length && !p.Width && p.Index == nil &&
			p.Slice == nil && p.Repl == nil && p.Exp == nil && first {
			switch p.Param.Value {
			case "HOME":
				b.WriteString("~")
				return true
			case "PWD":
				b.WriteString(".")
				return true
			}
		}
		return false
	}
	// Command and process substitutions, arithmetic, extended globs.
	return false
}

// unescape removes the backslashes of an unquoted literal (\rm is rm).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unescapeQuoted removes the backslashes that double quotes honour: before
// $, `, ", \ and newline.
func unescapeQuoted(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// tilde rewrites ~user to /home/user; ~ and ~/x stay as they are.
func tilde(s string) string {
	rest := s[1:]
	name, tail, _ := strings.Cut(rest, "/")
	if name == "" {
		return s
	}
	if name == "root" {
		return "/root" + slashTail(tail, strings.Contains(rest, "/"))
	}
	return "/home/" + name + slashTail(tail, strings.Contains(rest, "/"))
}

func slashTail(tail string, had bool) string {
	if !had {
		return ""
	}
	return "/" + tail
}

// substitutions returns the commands inside a word's command and process
// substitutions.
func substitutions(w *syntax.Word) []syntax.Node {
	if w == nil {
		return nil
	}
	var out []syntax.Node
	syntax.Walk(w, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CmdSubst:
			out = append(out, n)
		case *syntax.ProcSubst:
			out = append(out, n)
		}
		return true
	})
	return out
}

// quoteArgs renders args back into shell text, unknown values as a variable
// so that re-parsing keeps them unknown.
func quoteArgs(args []arg) string {
	var parts []string
	for _, a := range args {
		if !a.known {
			parts = append(parts, `"$__unknown"`)
			continue
		}
		s := a.s
		home := false
		if strings.HasPrefix(s, "~") && (len(s) == 1 || s[1] == '/') {
			home, s = true, s[1:]
		}
		q, err := syntax.Quote(s, syntax.LangBash)
		if err != nil {
			parts = append(parts, `"$__unknown"`)
			continue
		}
		if home {
			q = "~" + q
			if s == "" {
				q = "~"
			}
		}
		parts = append(parts, q)
	}
	return strings.Join(parts, " ")
}
