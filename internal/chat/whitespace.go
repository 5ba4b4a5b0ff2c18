package chat

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The engine applies whitespace control to the nearest text segment, even
// across an expression between them ("A {{ x }}{%- if %}" loses the space
// after A; "{% if %}{{ x }}\n" loses the newline after x), and ends an
// expression at the first "}}" even inside a dict literal. jinja2 does
// neither. So the source is lexed here as jinja2's lexer lexes it (with
// transformers' trim_blocks and lstrip_blocks), and handed to the engine
// with whitespace control already applied: every piece of text becomes a
// string-literal expression, tags lose their -/+ markers, comments go, raw
// blocks become text. With no text segments left, the engine has nothing
// to trim.

var (
	rawBeginRe = regexp.MustCompile(`^\{%([-+]?)\s*raw\s*(-%\}\s*|%\})`)
	endRawRe   = regexp.MustCompile(`\{%([-+]?)\s*endraw\s*(\+%\}|-%\}\s*|%\}\n?)`)
)

// jinjaSource returns src rewritten for the engine as described above.
func jinjaSource(src string) (string, error) {
	// jinja2 turns every line ending into "\n" and drops one trailing
	// newline (keep_trailing_newline=False) before lexing.
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	src = strings.TrimSuffix(src, "\n")

	var out strings.Builder
	out.Grow(len(src) + len(src)/4)
	pos := 0
	lineStarting := true
	for pos < len(src) {
		open := nextTag(src, pos)
		if open < 0 {
			writeText(&out, src[pos:])
			break
		}
		kind := src[open+1]
		sign := byte(0)
		if open+2 < len(src) && (src[open+2] == '-' || src[open+2] == '+') {
			sign = src[open+2]
		}
		text := src[pos:open]
		if kind == '%' {
			if m := rawBeginRe.FindStringSubmatch(src[open:]); m != nil {
				writeText(&out, leftStrip(text, m[1], true, lineStarting))
				next, err := rawBlock(&out, src, open+len(m[0]), strings.HasSuffix(m[0], "\n"))
				if err != nil {
					return "", err
				}
				pos, lineStarting = next.pos, next.lineStarting
				continue
			}
		}
		writeText(&out, leftStrip(text, string(sign), kind != '{', lineStarting))
		contentStart := open + 2
		if sign != 0 {
			contentStart++
		}
		end, err := tagEnd(src, contentStart, kind)
		if err != nil {
			return "", err
		}
		content := src[contentStart:end.content]
		pos = end.after
		switch {
		case end.sign == '-':
			for pos < len(src) {
				r, n := utf8.DecodeRuneInString(src[pos:])
				if !isPySpace(r) {
					break
				}
				pos += n
			}
		case end.sign != '+' && kind != '{' && pos < len(src) && src[pos] == '\n':
			pos++ // trim_blocks
		}
		lineStarting = src[pos-1] == '\n'
		switch kind {
		case '#':
			// comments produce nothing
		case '%':
			if c := strings.TrimSpace(content); c == "generation" || c == "endgeneration" {
				// transformers' AssistantTracker marks assistant text with
				// these; they render nothing.
				break
			}
			word := firstWord(content)
			if word == "endmacro" {
				out.WriteString("{{ " + macroLeave + "() }}")
			}
			out.WriteString("{% ")
			out.WriteString(splitCloseBraces(content))
			out.WriteString(" %}")
			if word == "macro" {
				out.WriteString("{{ " + macroEnter + "() }}")
			}
		default:
			out.WriteString("{{ ")
			out.WriteString(splitCloseBraces(content))
			out.WriteString(" }}")
		}
	}
	return out.String(), nil
}

// Every macro body counts its depth on entry and exit: a template whose
// macro recurses without end would otherwise overflow the stack, which
// kills the process (jinja2 raises RecursionError instead).
const (
	macroEnter    = "__chat_macro_enter"
	macroLeave    = "__chat_macro_leave"
	maxMacroDepth = 256
	// maxBracketDepth bounds the nesting of brackets in a tag, which the
	// engine's parser follows by recursion.
	maxBracketDepth = 256
)

func firstWord(s string) string {
	s = strings.TrimLeftFunc(s, isPySpace)
	end := strings.IndexFunc(s, func(r rune) bool { return !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) })
	if end < 0 {
		return s
	}
	return s[:end]
}

type lexPos struct {
	pos          int
	lineStarting bool
}

// rawBlock writes the text of a raw block whose content starts at start
// and returns where lexing resumes.
func rawBlock(out *strings.Builder, src string, start int, lineStarting bool) (lexPos, error) {
	loc := endRawRe.FindStringSubmatchIndex(src[start:])
	if loc == nil {
		return lexPos{}, fmt.Errorf("template syntax: missing end of raw block opened at line %d", lineOf(src, start))
	}
	sign := ""
	if loc[2] >= 0 {
		sign = src[start+loc[2] : start+loc[3]]
	}
	writeText(out, leftStrip(src[start:start+loc[0]], sign, true, lineStarting))
	end := start + loc[1]
	return lexPos{pos: end, lineStarting: src[end-1] == '\n'}, nil
}

// leftStrip applies what a tag does to the text before it: "-" strips all
// whitespace; otherwise a block or comment tag alone on its line (only
// whitespace since the line start) takes that whitespace away
// (lstrip_blocks), unless the tag says "+".
func leftStrip(text, sign string, block, lineStarting bool) string {
	if sign == "-" {
		return strings.TrimRightFunc(text, isPySpace)
	}
	if sign == "+" || !block {
		return text
	}
	l := strings.LastIndexByte(text, '\n') + 1
	if (l > 0 || lineStarting) && strings.TrimLeftFunc(text[l:], isPySpace) == "" {
		return text[:l]
	}
	return text
}

// nextTag is the index of the next "{{", "{%" or "{#" at or after pos, or -1.
func nextTag(src string, pos int) int {
	for {
		i := strings.IndexByte(src[pos:], '{')
		if i < 0 || pos+i+1 >= len(src) {
			return -1
		}
		pos += i
		if c := src[pos+1]; c == '{' || c == '%' || c == '#' {
			return pos
		}
		pos++
	}
}

type tagEndPos struct {
	content int  // end of the tag's content
	after   int  // index after the closer
	sign    byte // '-', '+' or 0 before the closer
}

// tagEnd finds the closer of a tag whose content starts at i: for
// expressions and statements the first one outside strings with brackets
// balanced, as jinja2's lexer does; for comments the first "#}".
func tagEnd(src string, i int, kind byte) (tagEndPos, error) {
	closer := string(kind) + "}"
	if kind == '{' {
		closer = "}}"
	}
	if kind == '#' {
		j := strings.Index(src[i:], "#}")
		if j < 0 {
			return tagEndPos{}, fmt.Errorf("template syntax: missing end of comment opened at line %d", lineOf(src, i))
		}
		j += i
		return withSign(src, i, j, len(closer)), nil
	}
	depth := 0
	var quote byte
	for j := i; j < len(src); j++ {
		c := src[j]
		switch {
		case quote != 0:
			if c == '\\' {
				j++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
			if depth > maxBracketDepth {
				return tagEndPos{}, fmt.Errorf("template syntax: brackets nested deeper than %d at line %d", maxBracketDepth, lineOf(src, j))
			}
		case depth > 0 && (c == ')' || c == ']' || c == '}'):
			depth--
		case depth == 0 && strings.HasPrefix(src[j:], closer):
			return withSign(src, i, j, len(closer)), nil
		}
	}
	return tagEndPos{}, fmt.Errorf("template syntax: unclosed tag opened at line %d", lineOf(src, i))
}

func withSign(src string, start, closerAt, closerLen int) tagEndPos {
	e := tagEndPos{content: closerAt, after: closerAt + closerLen}
	if closerAt > start && (src[closerAt-1] == '-' || src[closerAt-1] == '+') {
		// "{{ x +}}" is not a marker for expressions, but jinja2 has no
		// such expression either; "-" and "+" before a closer are markers.
		e.sign = src[closerAt-1]
		e.content--
	}
	return e
}

// splitCloseBraces puts a space into every "}}" outside string literals of
// a tag's content (nested dict literals), which the engine would take for
// the end of the tag.
func splitCloseBraces(content string) string {
	if !strings.Contains(content, "}}") {
		return content
	}
	var sb strings.Builder
	var quote byte
	for j := 0; j < len(content); j++ {
		c := content[j]
		sb.WriteByte(c)
		switch {
		case quote != 0:
			if c == '\\' && j+1 < len(content) {
				j++
				sb.WriteByte(content[j])
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '}' && j+1 < len(content) && content[j+1] == '}':
			sb.WriteByte(' ')
		}
	}
	return sb.String()
}

// writeText writes text as a string-literal expression.
func writeText(out *strings.Builder, text string) {
	if text == "" {
		return
	}
	out.WriteString(`{{ "`)
	for i := 0; i < len(text); i++ {
		if c := text[i]; c == '"' || c == '\\' {
			out.WriteByte('\\')
		}
		out.WriteByte(text[i])
	}
	out.WriteString(`" }}`)
}

// isPySpace is Python's str.isspace for one character.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

func lineOf(src string, i int) int { return strings.Count(src[:i], "\n") + 1 }
