package risk

import (
	"path"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// shells run a command string given with -c, or their standard input.
var shells = map[string]bool{"sh": true, "bash": true, "zsh": true, "dash": true,
	"ksh": true, "ash": true, "mksh": true, "fish": true, "busybox": false}

// interpreters run their standard input as a program when given no script.
var interpreters = map[string]bool{"python": true, "python3": true, "perl": true,
	"ruby": true, "node": true, "php": true}

// downloaders fetch from the network.
var downloaders = map[string]bool{"curl": true, "wget": true, "fetch": true, "aria2c": true}

// name returns the command name of an arg: the base name of a path
// (/bin/rm is rm), or "" when the name cannot be known.
func name(a arg) string {
	if !a.known {
		return ""
	}
	return path.Base(a.s)
}

// resolved is a command after its wrappers are stripped.
type resolved struct {
	name string
	args []arg // args[0] is the command itself
	via  []string
	// stdinItems is set after xargs: the command gets further args from input.
	stdinItems bool
}

// resolve strips wrappers (sudo, env, nice, timeout, xargs, ...) from a
// command line. ok is false when the wrapper runs nothing (command -v).
func (r *run) resolve(args []arg, depth int) (res resolved, ok bool) {
	for len(args) > 0 {
		n := name(args[0])
		next, isWrapper, runs := r.unwrap(n, args, depth)
		if !isWrapper {
			res.name, res.args = n, args
			return res, true
		}
		if !runs {
			return res, false
		}
		res.via = append(res.via, n)
		if n == "xargs" {
			res.stdinItems = true
			next = xargsArgs(args[1:], next)
		}
		args = next
	}
	return res, false
}

// skipOpts skips options; withArg lists options that take a separate value.
// It stops at "--" (skipped) or the first operand.
func skipOpts(args []arg, withArg string, longWithArg ...string) []arg {
	for len(args) > 0 {
		a := args[0]
		if !a.known || !strings.HasPrefix(a.s, "-") || a.s == "-" {
			return args
		}
		if a.s == "--" {
			return args[1:]
		}
		args = args[1:]
		if strings.HasPrefix(a.s, "--") {
			for _, l := range longWithArg {
				if a.s == l && len(args) > 0 {
					args = args[1:]
				}
			}
			continue
		}
		// A cluster like -nu root: the value belongs to the last letter.
		flags := a.s[1:]
		for i := 0; i < len(flags); i++ {
			if strings.IndexByte(withArg, flags[i]) >= 0 {
				if i == len(flags)-1 && len(args) > 0 {
					args = args[1:]
				}
				break
			}
		}
	}
	return args
}

func hasFlag(args []arg, short byte, long ...string) bool {
	for _, a := range args {
		if !a.known {
			continue
		}
		if a.s == "--" {
			return false
		}
		for _, l := range long {
			if a.s == l || strings.HasPrefix(a.s, l+"=") {
				return true
			}
		}
		if short != 0 && len(a.s) > 1 && a.s[0] == '-' && a.s[1] != '-' && strings.IndexByte(a.s[1:], short) >= 0 {
			return true
		}
	}
	return false
}

// unwrap returns the wrapped command line when n is a wrapper. runs is false
// when the wrapper only inspects (command -v) or when it ran a string that
// was classified on the spot (env -S).
func (r *run) unwrap(n string, args []arg, depth int) (next []arg, isWrapper, runs bool) {
	rest := args[1:]
	switch n {
	case "command":
		for _, a := range rest {
			if !a.known || !strings.HasPrefix(a.s, "-") || a.s == "--" {
				break
			}
			if strings.ContainsAny(a.s, "vV") {
				return nil, true, false
			}
		}
		return skipOpts(rest, ""), true, true
	case "watch":
		// watch runs its arguments joined, through sh -c.
		rest = skipOpts(rest, "nqx", "--interval", "--differences")
		r.joined(rest, depth)
		return nil, true, false
	case "ssh":
		// The remote command runs on another machine, but it is still
		// what the user asked for: judge it the same way.
		rest = skipOpts(rest, "BbcDEeFIiJLlmOoPpQRSWw")
		if len(rest) > 1 {
			r.joined(rest[1:], depth)
		}
		return nil, true, false
	case "builtin", "nohup", "unbuffer", "then", "do", "exec", "busybox":
		if n == "exec" {
			rest = skipOpts(rest, "a")
		}
		return rest, true, true
	case "time":
		return skipOpts(rest, "fo"), true, true
	case "sudo", "doas":
		r.add(Low, "it runs as root ("+n+")")
		rest = skipOpts(rest, "ugCDhprtUTa", "--user", "--group", "--chdir", "--host", "--prompt", "--role", "--type", "--other-user")
		for len(rest) > 0 && rest[0].known && strings.Contains(rest[0].s, "=") && !strings.HasPrefix(rest[0].s, "=") {
			rest = rest[1:]
		}
		return rest, true, true
	case "env":
		for len(rest) > 0 {
			a := rest[0]
			switch {
			case !a.known:
				return rest, true, true
			case a.s == "-S" || a.s == "--split-string":
				if len(rest) > 1 {
					r.splitString(rest[1], rest[2:], depth)
				}
				return nil, true, false
			case strings.HasPrefix(a.s, "--split-string="):
				r.splitString(arg{s: strings.TrimPrefix(a.s, "--split-string="), known: true}, rest[1:], depth)
				return nil, true, false
			case strings.HasPrefix(a.s, "-S") && len(a.s) > 2:
				r.splitString(arg{s: a.s[2:], known: true}, rest[1:], depth)
				return nil, true, false
			case a.s == "-u" || a.s == "-C" || a.s == "--unset" || a.s == "--chdir":
				rest = rest[1:]
				if len(rest) > 0 {
					rest = rest[1:]
				}
			case a.s == "--":
				rest = rest[1:]
			case strings.HasPrefix(a.s, "-") || (strings.Contains(a.s, "=") && !strings.HasPrefix(a.s, "=")):
				rest = rest[1:]
			default:
				return rest, true, true
			}
		}
		return nil, true, false
	case "nice":
		rest = skipOpts(rest, "n", "--adjustment")
		return rest, true, true
	case "ionice":
		return skipOpts(rest, "cnp", "--class", "--classdata", "--pid"), true, true
	case "setsid":
		return skipOpts(rest, ""), true, true
	case "stdbuf":
		return skipOpts(rest, "ioe", "--input", "--output", "--error"), true, true
	case "timeout":
		rest = skipOpts(rest, "sk", "--signal", "--kill-after")
		if len(rest) > 0 {
			rest = rest[1:] // the duration
		}
		return rest, true, true
	case "xargs":
		after := skipOpts(rest, "IinPLlEedsa", "--replace", "--max-args", "--max-procs",
			"--max-lines", "--delimiter", "--eof", "--max-chars", "--arg-file")
		if len(after) == 0 {
			return []arg{{s: "echo", known: true}}, true, true
		}
		return after, true, true
	}
	return nil, false, false
}

// xargsArgs marks the values xargs adds from its input: args holding the
// -I replacement string, or one more arg at the end.
func xargsArgs(opts, cmd []arg) []arg {
	repl := ""
	for i, a := range opts {
		if !a.known {
			break
		}
		switch {
		case (a.s == "-I" || a.s == "--replace") && i+1 < len(opts):
			repl = opts[i+1].s
		case strings.HasPrefix(a.s, "-I") && len(a.s) > 2:
			repl = a.s[2:]
		case strings.HasPrefix(a.s, "--replace="):
			repl = strings.TrimPrefix(a.s, "--replace=")
		case a.s == "-i":
			repl = "{}"
		}
		if len(cmd) > 0 && &opts[i] == &cmd[0] {
			break
		}
	}
	out := append([]arg(nil), cmd...)
	if repl != "" {
		for i := 1; i < len(out); i++ {
			if out[i].known && strings.Contains(out[i].s, repl) {
				out[i] = unknownArg
			}
		}
		return out
	}
	return append(out, unknownArg)
}

// joined classifies args joined by spaces as one command string, as
// watch and ssh run them.
func (r *run) joined(args []arg, depth int) {
	var parts []string
	for _, a := range args {
		if !a.known {
			r.add(Low, "it runs a command string the classifier cannot know")
			return
		}
		parts = append(parts, a.s)
	}
	if len(parts) > 0 {
		r.source(strings.Join(parts, " "), depth+1)
	}
}

// splitString classifies env -S's string with the args after it.
func (r *run) splitString(s arg, rest []arg, depth int) {
	if !s.known {
		r.add(Low, "it runs a command string the classifier cannot know")
		return
	}
	r.source(s.s+" "+quoteArgs(rest), depth+1)
}

// call classifies one simple command.
func (r *run) call(args []arg, depth int) {
	if depth > maxDepth {
		r.add(Low, "nested too deeply to classify")
		return
	}
	res, ok := r.resolve(args, depth)
	if !ok {
		return
	}
	r.shellStrings(res, depth)
	if res.name == "" {
		r.add(Low, "the command name is a value the classifier cannot know")
		return
	}
	if !r.session(res, depth) {
		r.rule(res, depth)
	}
}

// session expands the session's aliases and functions; it reports whether
// the name was one.
func (r *run) session(res resolved, depth int) bool {
	if r.expanded == nil {
		r.expanded = map[string]bool{}
	}
	if a, ok := r.cl.Aliases[res.name]; ok && !r.expanded["a:"+res.name] && res.name == res.args[0].s {
		r.expanded["a:"+res.name] = true
		r.source(a+" "+quoteArgs(res.args[1:]), depth+1)
		delete(r.expanded, "a:"+res.name)
		return true
	}
	if body, ok := r.cl.Functions[res.name]; ok && !r.expanded["f:"+res.name] {
		r.expanded["f:"+res.name] = true
		r.source(body, depth+1)
		delete(r.expanded, "f:"+res.name)
		return true
	}
	return false
}

// shellStrings handles commands that run a string as code: sh -c, eval,
// source <(...), bash <(curl ...).
func (r *run) shellStrings(res resolved, depth int) {
	args := res.args
	if len(args) == 0 {
		return
	}
	n := res.name
	isShell := shells[n] || n == "eval" || n == "source" || n == "." || n == "su" || interpreters[n]
	if !isShell {
		return
	}
	for _, a := range args[1:] {
		for _, s := range substitutions(a.word) {
			if containsDownloader(s) {
				r.add(High, "it runs code downloaded from the network")
			}
		}
	}
	switch {
	case shells[n]:
		rest := args[1:]
		for i := 0; i < len(rest); i++ {
			a := rest[i]
			if !a.known || !strings.HasPrefix(a.s, "-") || strings.HasPrefix(a.s, "--") {
				return
			}
			if a.s == "-o" || a.s == "+o" {
				i++
				continue
			}
			if strings.Contains(a.s, "c") && i+1 < len(rest) {
				r.runString(rest[i+1], depth)
				return
			}
		}
	case n == "su":
		for i, a := range args[1:] {
			if !a.known {
				continue
			}
			if (a.s == "-c" || a.s == "--command") && i+2 < len(args) {
				r.runString(args[i+2], depth)
			} else if strings.HasPrefix(a.s, "--command=") {
				r.runString(arg{s: strings.TrimPrefix(a.s, "--command="), known: true}, depth)
			}
		}
	case n == "eval":
		rest := args[1:]
		if len(rest) > 0 && rest[0].known && rest[0].s == "--" {
			rest = rest[1:]
		}
		for _, a := range rest {
			if !a.known {
				r.add(Low, "eval runs a string the classifier cannot know")
				return
			}
		}
		var parts []string
		for _, a := range rest {
			parts = append(parts, a.s)
		}
		r.source(strings.Join(parts, " "), depth+1)
	}
}

func (r *run) runString(a arg, depth int) {
	if !a.known {
		r.add(Low, "it runs a command string the classifier cannot know")
		return
	}
	r.source(a.s, depth+1)
}

// containsDownloader reports whether a node runs curl, wget or the like.
func containsDownloader(n syntax.Node) bool {
	found := false
	syntax.Walk(n, func(n syntax.Node) bool {
		if c, ok := n.(*syntax.CallExpr); ok && len(c.Args) > 0 {
			args := words(c.Args)
			for len(args) > 0 && (name(args[0]) == "sudo" || name(args[0]) == "command" || name(args[0]) == "env") {
				args = args[1:]
			}
			if len(args) > 0 && downloaders[name(args[0])] {
				found = true
			}
		}
		return !found
	})
	return found
}

// redirect judges one redirection's target.
func (r *run) redirect(rd *syntax.Redirect) {
	if rd.Word == nil {
		return
	}
	a := wordArg(rd.Word)
	switch rd.Op {
	case syntax.RdrOut, syntax.RdrClob, syntax.RdrAll, syntax.RdrAllClob:
		r.writeTarget(a, true, "a redirection")
	case syntax.AppOut, syntax.AppAll, syntax.AppAllClob, syntax.RdrInOut:
		r.writeTarget(a, false, "a redirection")
	case syntax.DplOut:
		if a.known && strings.Trim(a.s, "0123456789-") != "" {
			r.writeTarget(a, true, "a redirection")
		}
	}
}

// pipeline finds network downloads piped into a shell or interpreter.
func (r *run) pipeline(b *syntax.BinaryCmd) {
	var stages []*syntax.Stmt
	var flatten func(s *syntax.Stmt)
	flatten = func(s *syntax.Stmt) {
		if bc, ok := s.Cmd.(*syntax.BinaryCmd); ok && (bc.Op == syntax.Pipe || bc.Op == syntax.PipeAll) {
			// Each pipeline is judged once, from its outermost node.
			r.pipes[bc] = true
			flatten(bc.X)
			flatten(bc.Y)
			return
		}
		stages = append(stages, s)
	}
	flatten(b.X)
	flatten(b.Y)
	download := false
	for _, s := range stages {
		if download && runsStdin(s) {
			r.add(High, "it pipes a download from the network into a shell or interpreter")
			return
		}
		if containsDownloader(s) {
			download = true
		}
	}
}

// runsStdin reports whether a stage executes its standard input as code.
func runsStdin(s *syntax.Stmt) bool {
	c, ok := s.Cmd.(*syntax.CallExpr)
	if !ok || len(c.Args) == 0 {
		return false
	}
	var tmp run
	tmp.cl = &Classifier{}
	tmp.reasons = map[string]Level{}
	tmp.pipes = map[*syntax.BinaryCmd]bool{}
	res, ok := tmp.resolve(words(c.Args), 0)
	if !ok || !(shells[res.name] || interpreters[res.name]) {
		return false
	}
	rest := res.args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if !a.known {
			return false
		}
		switch {
		case a.s == "-" || a.s == "-s" || a.s == "--":
			return true
		case a.s == "-o" || a.s == "+o":
			i++
		case strings.HasPrefix(a.s, "-") && strings.ContainsAny(a.s[1:], "ce") && !shells[res.name] && a.s != "-u":
			return false // python -c, perl -e: the program is an argument
		case strings.HasPrefix(a.s, "-") && shells[res.name] && strings.Contains(a.s, "c") && !strings.HasPrefix(a.s, "--"):
			return false
		case strings.HasPrefix(a.s, "-"):
		default:
			return false // a script file
		}
	}
	return true
}

// funcDecl finds fork bombs: a function that starts itself in the
// background or on both sides of a pipe. Only direct calls count, which
// keeps the check linear in the body's size.
func (r *run) funcDecl(fd *syntax.FuncDecl) {
	if fd.Name == nil || fd.Body == nil {
		return
	}
	self := fd.Name.Value
	calls := func(s *syntax.Stmt) bool {
		c, ok := s.Cmd.(*syntax.CallExpr)
		if !ok || len(c.Args) == 0 {
			return false
		}
		a := wordArg(c.Args[0])
		return a.known && a.s == self
	}
	bomb := false
	syntax.Walk(fd.Body, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.BinaryCmd:
			if (n.Op == syntax.Pipe || n.Op == syntax.PipeAll) && calls(n.X) && calls(n.Y) {
				bomb = true
			}
		case *syntax.Stmt:
			if n.Background && calls(n) {
				bomb = true
			}
		}
		return !bomb
	})
	if bomb {
		r.add(High, "it is a fork bomb (the function "+self+" starts copies of itself without end)")
	}
}
