package shell

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/raym33/ainative/internal/atomicfile"
)

// Line editing on top of golang.org/x/term's Terminal, which gives the
// bash/emacs keys (^A ^E ^B ^F ^K ^U ^W ^L ^T, Alt-arrows, arrows and
// ^P/^N through history) and a callback for every other key; the
// callback adds ^R (reverse history search) and Tab (completion), and
// interruptReader maps Alt-B/Alt-F (ESC b, ESC f) to Alt-arrows.

// historyMax bounds the history kept in memory and in the file, which is
// rewritten to that length when it has grown to twice as long.
const historyMax = 2000

// history is the persistent, per-user command history: every line read
// at the prompt is appended to the file as it is entered (concurrent
// shells interleave whole lines). Lines that begin with a space are not
// kept, nor a repeat of the line before (bash's HISTCONTROL=ignoreboth),
// so a command can be kept out of the file on purpose.
type history struct {
	mu      sync.Mutex
	entries []string // oldest first
	file    *os.File // nil: not saved
}

// openHistory loads path (created 0600 if missing); an empty path means
// no file. A file that cannot be used leaves an in-memory history and an
// error to report.
func openHistory(path string) (*history, error) {
	h := &history{}
	if path == "" {
		return h, nil
	}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return h, err
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			lines = append(lines, line)
		}
	}
	if len(lines) > 2*historyMax {
		lines = lines[len(lines)-historyMax:]
		if err := atomicfile.WriteBytes(path, 0o600, []byte(strings.Join(lines, "\n")+"\n")); err != nil {
			return h, err
		}
	}
	h.entries = lines[max(0, len(lines)-historyMax):]
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return h, err
	}
	h.file = f
	return h, nil
}

// Add records a line (term.History).
func (h *history) Add(line string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if strings.TrimSpace(line) == "" || strings.HasPrefix(line, " ") {
		return
	}
	if n := len(h.entries); n > 0 && h.entries[n-1] == line {
		return
	}
	h.entries = append(h.entries, line)
	if len(h.entries) > historyMax {
		h.entries = append(h.entries[:0:0], h.entries[len(h.entries)-historyMax:]...)
	}
	if h.file != nil {
		if _, err := io.WriteString(h.file, line+"\n"); err != nil {
			h.file.Close()
			h.file = nil // stop trying; the session keeps its history
		}
	}
}

// Len is the number of lines (term.History).
func (h *history) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.entries)
}

// At returns a line, 0 being the latest (term.History).
func (h *history) At(i int) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.entries[len(h.entries)-1-i]
}

func (h *history) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.file == nil {
		return nil
	}
	err := h.file.Close()
	h.file = nil
	return err
}

// historyPath is $HISTFILE when set (empty: no file), else
// ~/.ainative_history.
func (s *Shell) historyPath() string {
	if v, ok := s.lookupVar("HISTFILE"); ok {
		return v
	}
	if home := s.getVar("HOME"); home != "" {
		return filepath.Join(home, ".ainative_history")
	}
	return ""
}

// lookupVar returns a shell variable as it is between commands.
func (s *Shell) lookupVar(name string) (string, bool) {
	if vr, ok := s.runner.Vars[name]; ok {
		return vr.String(), vr.IsSet()
	}
	vr := s.runner.Env.Get(name)
	return vr.String(), vr.IsSet()
}

func (s *Shell) getVar(name string) string {
	v, _ := s.lookupVar(name)
	return v
}

// editor holds the state of the keys handled by the callback.
type editor struct {
	s    *Shell
	hist *history
	out  io.Writer // the terminal, for listing completions

	// ^R: the text searched for and where the last match was, so that
	// ^R again finds the next older match while the line still shows it.
	query     string
	matchAt   int
	matchLine string
}

const (
	keyCtrlR = 18
	keyTab   = '\t'
)

// key is term.Terminal's AutoCompleteCallback.
func (ed *editor) key(line string, pos int, key rune) (string, int, bool) {
	pos = max(0, min(pos, len(line)))
	for pos > 0 && pos < len(line) && !utf8.RuneStart(line[pos]) {
		pos-- // the start of the rune, should a caller give its middle
	}
	switch key {
	case keyCtrlR:
		return ed.reverseSearch(line)
	case keyTab:
		return ed.complete(line, pos)
	}
	return "", 0, false
}

// reverseSearch replaces the line with the latest history line that
// contains it; ^R again (the line unchanged) goes on to older ones.
// Nothing found leaves the line as it is.
func (ed *editor) reverseSearch(line string) (string, int, bool) {
	from := 0
	if line == ed.matchLine && ed.matchLine != "" {
		from = ed.matchAt + 1
	} else {
		ed.query = line
	}
	for i := from; i < ed.hist.Len(); i++ {
		if h := ed.hist.At(i); strings.Contains(h, ed.query) && h != line {
			ed.matchAt, ed.matchLine = i, h
			return h, len(h), true
		}
	}
	return line, len(line), true
}

// complete completes the word before the cursor: a command name in
// command position (built-ins, functions, ainative subcommands, programs
// in $PATH), the subcommand after `ainative`, else a path. One candidate
// is completed in full; several are completed to their common prefix
// and, when that adds nothing, listed. Characters special to the shell
// in a completed name are escaped with a backslash, as bash does.
func (ed *editor) complete(line string, pos int) (string, int, bool) {
	before, after := line[:pos], line[pos:]
	start := wordStart(before)
	word := unescape(before[start:])
	head := strings.TrimSpace(before[:start])
	var cands []string
	switch {
	case head == "" || strings.HasSuffix(head, ";") || strings.HasSuffix(head, "|") ||
		strings.HasSuffix(head, "&") || strings.HasSuffix(head, "("):
		if strings.Contains(word, "/") {
			cands = ed.paths(word, true)
		} else {
			cands = ed.commands(word)
		}
	case head == "ainative" || strings.HasSuffix(head, " ainative"):
		cands = withPrefix(ed.s.opts.Subcommands, word, " ")
	default:
		cands = ed.paths(word, false)
	}
	if len(cands) == 0 {
		return line, pos, true
	}
	common := cands[0]
	for _, c := range cands[1:] {
		common = commonPrefix(common, c)
	}
	if len(cands) > 1 {
		common = strings.TrimSuffix(common, " ")
		if common == word {
			shown := make([]string, len(cands))
			for i, c := range cands {
				shown[i] = strings.TrimSuffix(c, " ")
			}
			fmt.Fprintln(ed.out, strings.Join(shown, "  "))
			return line, pos, true
		}
	}
	// The space or slash that ends a candidate is not part of its name.
	name, end := common, ""
	if strings.HasSuffix(name, " ") {
		name, end = name[:len(name)-1], " "
	}
	text := escape(name) + end
	return before[:start] + text + after, start + len(text), true
}

// special are the characters escaped in a completed word.
// A ~ matters only at the start, where "~/" is the home directory.
const special = " \t\n'\"\\$&;|()<>*?[]#{}!`"

func escape(s string) string {
	var b strings.Builder
	for i, r := range s {
		if strings.ContainsRune(special, r) || (r == '~' && i == 0 && !strings.HasPrefix(s, "~/")) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// wordStart is where the word that ends s begins: after the last
// unescaped blank or operator character.
func wordStart(s string) int {
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case ' ', '\t', ';', '|', '&', '(', '<', '>':
			start = i + 1
		}
	}
	return min(start, len(s))
}

// commonPrefix is the longest common prefix of a and b in whole runes.
func commonPrefix(a, b string) string {
	n := 0
	for n < len(a) && n < len(b) {
		ra, sa := utf8.DecodeRuneInString(a[n:])
		rb, sb := utf8.DecodeRuneInString(b[n:])
		if ra != rb || sa != sb {
			break
		}
		n += sa
	}
	return a[:n]
}

// commands are the command names that begin with prefix, each followed
// by a space.
func (ed *editor) commands(prefix string) []string {
	seen := map[string]bool{}
	add := func(name string) {
		if strings.HasPrefix(name, prefix) {
			seen[name] = true
		}
	}
	for name := range builtins {
		add(name)
	}
	for name := range ed.s.own {
		add(name)
	}
	for _, name := range shellBuiltins {
		add(name)
	}
	for name := range ed.s.runner.Funcs {
		add(name)
	}
	for _, name := range ed.s.opts.Subcommands {
		add(name)
	}
	add("ainative")
	for _, dir := range filepath.SplitList(ed.s.getVar("PATH")) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), prefix) {
				continue
			}
			if info, err := e.Info(); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
				seen[e.Name()] = true
			}
		}
	}
	var out []string
	for name := range seen {
		out = append(out, name+" ")
	}
	sort.Strings(out)
	return out
}

// paths are the files whose path begins with word (relative to the
// shell's directory; ~/ for the home directory): directories end in /,
// others in a space. With onlyExec, files are kept only if executable.
func (ed *editor) paths(word string, onlyExec bool) []string {
	dir, base := filepath.Split(word)
	look := dir
	if rest, ok := strings.CutPrefix(dir, "~/"); ok {
		look = filepath.Join(ed.s.getVar("HOME"), rest)
	}
	if !filepath.IsAbs(look) {
		look = filepath.Join(ed.s.runner.Dir, look)
	}
	entries, err := os.ReadDir(look)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, base) || (strings.HasPrefix(name, ".") && !strings.HasPrefix(base, ".")) {
			continue
		}
		info, err := os.Stat(filepath.Join(look, name)) // through symlinks
		switch {
		case err != nil:
			continue
		case info.IsDir():
			out = append(out, dir+name+"/")
		case !onlyExec || info.Mode()&0o111 != 0:
			out = append(out, dir+name+" ")
		}
	}
	sort.Strings(out)
	return out
}

func withPrefix(names []string, prefix, suffix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n+suffix)
		}
	}
	sort.Strings(out)
	return out
}

// shellBuiltins are the interpreter's own commands, for completion.
var shellBuiltins = []string{
	"alias", "break", "builtin", "cd", "command", "continue", "declare", "dirs", "echo", "eval",
	"exec", "exit", "export", "false", "getopts", "help", "let", "local", "mapfile", "popd",
	"printf", "pushd", "pwd", "read", "readarray", "readonly", "return", "set", "shift",
	"shopt", "source", "test", "trap", "true", "type", "umask", "unalias", "unset",
}

// historyCmd is `history [N]`: the history of the interactive shell, or
// its last N lines, numbered from the oldest kept.
func (s *Shell) historyCmd(e *Env, args []string) error {
	h := s.hist.Load()
	if h == nil {
		return nil // not interactive: no history, as in bash
	}
	n := h.Len()
	switch len(args) {
	case 0:
	case 1:
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 0 {
			return fmt.Errorf("%s: not a count of lines", args[0])
		}
		n = min(n, v)
	default:
		return usage(e, "history [N]")
	}
	total := h.Len()
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(e.Stdout, "%5d  %s\n", total-i, h.At(i))
	}
	return nil
}
