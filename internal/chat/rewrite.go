package chat

import (
	"regexp"
	"strings"
)

// tojsonFilter is the name the template's tojson filter is renamed to. The
// engine resolves its own filters before the caller's, so transformers'
// tojson (json.dumps with the key order kept, indent, ensure_ascii=False)
// can only take effect under another name; the engine finds unknown
// filter names among the render variables.
const tojsonFilter = "__chat_tojson"

var rawTag = regexp.MustCompile(`^\{%-?\s*raw\s*-?%\}`)
var endRawTag = regexp.MustCompile(`\{%-?\s*endraw\s*-?%\}`)

// renameTojson returns src with every `| tojson` filter application inside
// {{ }} and {% %} tags renamed to tojsonFilter. String literals, comments,
// raw blocks and the text between tags are left as they are.
func renameTojson(src string) string {
	var out strings.Builder
	out.Grow(len(src) + 64)
	i := 0
	for i < len(src) {
		j := strings.IndexByte(src[i:], '{')
		if j < 0 || i+j+1 >= len(src) {
			out.WriteString(src[i:])
			break
		}
		j += i
		out.WriteString(src[i:j])
		switch src[j+1] {
		case '#':
			end := strings.Index(src[j+2:], "#}")
			if end < 0 {
				out.WriteString(src[j:])
				return out.String()
			}
			end += j + 4
			out.WriteString(src[j:end])
			i = end
		case '%':
			if rawTag.MatchString(src[j:]) {
				loc := endRawTag.FindStringIndex(src[j:])
				if loc == nil {
					out.WriteString(src[j:])
					return out.String()
				}
				out.WriteString(src[j : j+loc[1]])
				i = j + loc[1]
				continue
			}
			i = rewriteTag(&out, src, j, "%}")
		case '{':
			i = rewriteTag(&out, src, j, "}}")
		default:
			out.WriteByte('{')
			i = j + 1
		}
	}
	return out.String()
}

// rewriteTag copies the tag starting at src[start] up to and including
// closer, renaming tojson filters, and returns the index after it.
func rewriteTag(out *strings.Builder, src string, start int, closer string) int {
	out.WriteString(src[start : start+2])
	i := start + 2
	var quote byte
	for i < len(src) {
		c := src[i]
		switch {
		case quote != 0:
			out.WriteByte(c)
			if c == '\\' && i+1 < len(src) {
				out.WriteByte(src[i+1])
				i += 2
				continue
			}
			if c == quote {
				quote = 0
			}
			i++
		case c == '\'' || c == '"':
			quote = c
			out.WriteByte(c)
			i++
		case strings.HasPrefix(src[i:], closer):
			out.WriteString(closer)
			return i + len(closer)
		case c == '|':
			out.WriteByte(c)
			i++
			for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
				out.WriteByte(src[i])
				i++
			}
			if strings.HasPrefix(src[i:], "tojson") && (i+6 == len(src) || !isIdentByte(src[i+6])) {
				out.WriteString(tojsonFilter)
				i += 6
			}
		default:
			out.WriteByte(c)
			i++
		}
	}
	return i
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
