package initsys

import (
	"bytes"
	"sync"
)

// LogBuffer keeps the most recent lines a service wrote, bounded both in
// line count and in bytes, so a chatty or hostile service cannot grow PID
// 1's memory. It is an io.Writer; writes may split lines anywhere.
type LogBuffer struct {
	mu       sync.Mutex
	lines    []string // ring: lines[(start+i)%len(lines)], i < n
	start, n int
	bytes    int // total length of the stored lines
	maxBytes int
	partial  []byte // the unterminated tail of the last write
	total    uint64 // lines ever appended, for "N lines dropped" hints
}

// Default bounds of a service's log buffer.
const (
	DefaultLogLines = 1000
	DefaultLogBytes = 256 << 10
	maxLineBytes    = 4096 // longer lines are split, so one line cannot take the whole buffer
)

// NewLogBuffer returns a buffer that keeps at most maxLines lines and
// maxBytes bytes of text.
func NewLogBuffer(maxLines, maxBytes int) *LogBuffer {
	return &LogBuffer{lines: make([]string, max(maxLines, 1)), maxBytes: max(maxBytes, 1)}
}

// Write appends p, splitting it into lines; it never fails.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := maxLineBytes - len(b.partial)
			if len(p) < room {
				b.partial = append(b.partial, p...)
				break
			}
			b.partial = append(b.partial, p[:room]...)
			p = p[room:]
			b.flushPartial()
			continue
		}
		line := p[:i]
		p = p[i+1:]
		for len(b.partial)+len(line) > maxLineBytes {
			room := maxLineBytes - len(b.partial)
			b.partial = append(b.partial, line[:room]...)
			line = line[room:]
			b.flushPartial()
		}
		b.partial = append(b.partial, line...)
		b.flushPartial()
	}
	return n, nil
}

// flushPartial appends the pending partial line as a complete line.
func (b *LogBuffer) flushPartial() {
	b.appendLine(string(bytes.TrimSuffix(b.partial, []byte("\r"))))
	b.partial = b.partial[:0]
}

func (b *LogBuffer) appendLine(s string) {
	for b.n > 0 && (b.n == len(b.lines) || b.bytes+len(s) > b.maxBytes) {
		b.bytes -= len(b.lines[b.start])
		b.lines[b.start] = ""
		b.start = (b.start + 1) % len(b.lines)
		b.n--
	}
	b.lines[(b.start+b.n)%len(b.lines)] = s
	b.n++
	b.bytes += len(s)
	b.total++
}

// Lines returns up to the last n complete lines, oldest first, followed by
// the unterminated tail if any; n <= 0 means all.
func (b *LogBuffer) Lines(n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	count := b.n
	if len(b.partial) > 0 {
		count++
	}
	if n <= 0 || n > count {
		n = count
	}
	out := make([]string, 0, n)
	skip := count - n
	for i := skip; i < b.n; i++ {
		out = append(out, b.lines[(b.start+i)%len(b.lines)])
	}
	if len(b.partial) > 0 && len(out) < n {
		out = append(out, string(b.partial))
	}
	return out
}

// Total reports how many lines were ever written (including dropped ones).
func (b *LogBuffer) Total() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}
