// Package risk classifies a shell command by what it would do, read from its
// syntax tree rather than from string matching: it resolves wrappers (sudo,
// env, xargs, ...), parses `bash -c` and `eval` strings recursively, follows
// the session's aliases and functions, and looks at the actual targets of
// deletions, writes and moves. It is used by the shell (to gate AI proposals
// and to warn in --guard mode), by `ainative risk` and by the bus.
package risk

import (
	"fmt"
	"sort"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Level orders verdicts: None < Low < High.
type Level int

const (
	// None: nothing notable (reads, builds, ordinary edits in the working tree).
	None Level = iota
	// Low: changes or deletes something the user probably meant to, or runs
	// something whose effect cannot be known; worth a glance.
	Low
	// High: can destroy the system, a home directory, disks or history, or
	// runs code fetched from the network. Proposals at this level need an
	// explicit "yes".
	High
)

// String returns "none", "low" or "high".
func (l Level) String() string {
	switch l {
	case None:
		return "none"
	case Low:
		return "low"
	case High:
		return "high"
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// Verdict is the classification of one command line.
type Verdict struct {
	Level   Level
	Reasons []string // one short sentence per finding, highest first; empty at None
}

// maxInput bounds the text classified; a longer command line is Low
// ("too long to classify") rather than parsed, so the cost stays bounded.
const maxInput = 64 << 10

// maxDepth bounds nesting through bash -c, eval, aliases and functions.
const maxDepth = 12

// Classifier classifies commands in the context of a shell session: the
// aliases and functions the session has defined change what a name runs.
// The zero value is a classifier for a fresh session.
type Classifier struct {
	// Aliases maps an alias name to its replacement text.
	Aliases map[string]string
	// Functions maps a function name to its body's source text.
	Functions map[string]string
}

// Classify classifies command as typed in a fresh session.
func Classify(command string) Verdict {
	var c Classifier
	return c.Classify(command)
}

// Classify classifies command in the classifier's session. It never panics
// and its cost is bounded by the input's length.
func (c *Classifier) Classify(command string) Verdict {
	r := &run{cl: c, reasons: map[string]Level{}, pipes: map[*syntax.BinaryCmd]bool{}}
	if len(command) > maxInput {
		r.add(Low, "command too long to classify")
		return r.verdict()
	}
	r.source(command, 0)
	return r.verdict()
}

// run accumulates findings for one Classify call.
type run struct {
	cl       *Classifier
	level    Level
	reasons  map[string]Level
	order    []string
	expanded map[string]bool // aliases and functions being expanded (stops loops)
	steps    int             // total recursive sources; bounds work on hostile input
	pipes    map[*syntax.BinaryCmd]bool
}

func (r *run) add(l Level, reason string) {
	if l > r.level {
		r.level = l
	}
	if old, ok := r.reasons[reason]; ok {
		if l > old {
			r.reasons[reason] = l
		}
		return
	}
	r.reasons[reason] = l
	r.order = append(r.order, reason)
}

func (r *run) verdict() Verdict {
	v := Verdict{Level: r.level}
	if r.level == None {
		return v
	}
	idx := map[string]int{}
	for i, s := range r.order {
		idx[s] = i
	}
	for _, s := range r.order {
		if r.reasons[s] > None {
			v.Reasons = append(v.Reasons, s)
		}
	}
	sort.SliceStable(v.Reasons, func(i, j int) bool {
		li, lj := r.reasons[v.Reasons[i]], r.reasons[v.Reasons[j]]
		if li != lj {
			return li > lj
		}
		return idx[v.Reasons[i]] < idx[v.Reasons[j]]
	})
	return v
}

// source parses and classifies shell source text at the given nesting depth.
func (r *run) source(text string, depth int) {
	r.steps++
	if depth > maxDepth || r.steps > 200 {
		r.add(Low, "nested too deeply to classify")
		return
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(text), "")
	if err != nil {
		r.add(Low, "does not parse as a shell command: "+shortErr(err))
		return
	}
	r.file(f, depth)
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// file walks a parsed tree and classifies every command, redirection,
// pipeline and function declaration in it, including those inside
// substitutions.
func (r *run) file(n syntax.Node, depth int) {
	syntax.Walk(n, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.Stmt:
			for _, rd := range n.Redirs {
				r.redirect(rd)
			}
		case *syntax.CallExpr:
			if len(n.Args) > 0 {
				r.call(words(n.Args), depth)
			}
		case *syntax.BinaryCmd:
			if (n.Op == syntax.Pipe || n.Op == syntax.PipeAll) && !r.pipes[n] {
				r.pipeline(n)
			}
		case *syntax.FuncDecl:
			r.funcDecl(n)
		}
		return true
	})
}
