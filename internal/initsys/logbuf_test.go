package initsys

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestLogBufferKeepsLastLines(t *testing.T) {
	b := NewLogBuffer(3, 1<<20)
	fmt.Fprint(b, "one\ntwo\nthr")
	fmt.Fprint(b, "ee\nfour\nfiv")
	// "one" was dropped: 3 complete lines at most, plus the partial tail.
	if got, want := b.Lines(0), []string{"two", "three", "four", "fiv"}; !slices.Equal(got, want) {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	if got := b.Lines(2); !slices.Equal(got, []string{"four", "fiv"}) {
		t.Errorf("Lines(2) = %q", got)
	}
	if b.Total() != 4 {
		t.Errorf("Total = %d, want 4", b.Total())
	}
}

func TestLogBufferByteBound(t *testing.T) {
	b := NewLogBuffer(1000, 10)
	fmt.Fprint(b, "aaaa\nbbbb\ncccc\r\n")
	if got := b.Lines(0); !slices.Equal(got, []string{"bbbb", "cccc"}) {
		t.Errorf("Lines = %q, want the last 10 bytes' worth", got)
	}
}

func TestLogBufferSplitsLongLines(t *testing.T) {
	b := NewLogBuffer(100, 1<<20)
	fmt.Fprint(b, strings.Repeat("x", maxLineBytes*2+5)+"\n")
	got := b.Lines(0)
	if len(got) != 3 || len(got[0]) != maxLineBytes || len(got[2]) != 5 {
		t.Errorf("got %d lines of lengths %d...", len(got), len(got[0]))
	}
}

func FuzzLogBuffer(f *testing.F) {
	f.Add([]byte("a\nb\r\nc"), 2, 5)
	f.Add([]byte(strings.Repeat("z", 5000)), 1, 1)
	f.Fuzz(func(t *testing.T, data []byte, lines, size int) {
		lines, size = lines%50, size%4096
		b := NewLogBuffer(lines, size)
		b.Write(data)
		b.Write(data)
		total := 0
		got := b.Lines(0)
		for _, l := range got[:max(len(got)-1, 0)] {
			total += len(l)
		}
		if total > max(size, 1)+maxLineBytes {
			t.Fatalf("kept %d bytes with a bound of %d", total, size)
		}
	})
}

// BenchmarkLogBuffer measures the cost of capturing service output: line
// splitting and the ring, against a plain copy into a bytes.Buffer as the
// baseline (the ratio is what matters).
func BenchmarkLogBuffer(b *testing.B) {
	chunk := []byte(strings.Repeat("a log line of a typical length, with some fields=1\n", 80))
	b.Run("ring", func(b *testing.B) {
		buf := NewLogBuffer(DefaultLogLines, DefaultLogBytes)
		b.SetBytes(int64(len(chunk)))
		for b.Loop() {
			buf.Write(chunk)
		}
	})
	b.Run("baseline-bytes.Buffer", func(b *testing.B) {
		var buf bytes.Buffer
		b.SetBytes(int64(len(chunk)))
		for b.Loop() {
			if buf.Len() > DefaultLogBytes {
				buf.Reset()
			}
			buf.Write(chunk)
		}
	})
}
