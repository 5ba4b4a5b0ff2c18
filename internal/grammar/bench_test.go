package grammar

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/testdata"
	"github.com/raym33/ainative/internal/tokenizer"
)

const (
	benchSchema = `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0},"ok":{"type":"boolean"},` +
		`"tags":{"type":"array","items":{"type":"string"}},"address":{"type":"object","properties":{"city":{"type":"string"},"zip":{"type":"string","pattern":"^[0-9]{5}$"}},"required":["city","zip"]}},` +
		`"required":["name","age","ok","tags","address"]}`
	benchDoc = `{"name": "Alice Smith, a software engineer who lives in France", "age": 42, "ok": true, "tags": ["x", "why not", "façade"], "address": {"city": "Paris", "zip": "75001"}}`
)

func benchTokenizer(b *testing.B, name string) *tokenizer.Tokenizer {
	f, err := gguf.Open(testdata.Path(b, "tokenizers", name+"-vocab.gguf"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// BenchmarkMaskGeneration measures Mask per generated token over a whole
// document on qwen3's 151k-token vocabulary, from a fresh matcher (cold
// caches), as one request sees it. The figure to quote is ns/token.
func BenchmarkMaskGeneration(b *testing.B) {
	tok := benchTokenizer(b, "qwen3")
	v := realVocab(b, "qwen3")
	g, err := CompileSchema([]byte(benchSchema))
	if err != nil {
		b.Fatal(err)
	}
	ids := tok.Encode(benchDoc, false, false)
	mask := make([]uint64, v.MaskWords())
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		m, _ := g.NewMatcher(v)
		for _, id := range ids {
			m.Mask(mask, NoBudget)
			if !Allowed(mask, id) {
				b.Fatalf("token %d (%q) not allowed", id, tok.Piece(id))
			}
			if err := m.Accept(id); err != nil {
				b.Fatal(err)
			}
		}
	}
	cpu.report(b, b.N*len(ids), "cpu-ns/token")
}

// cpuClock measures the benchmark goroutine's thread CPU time, which a
// shared, loaded machine inflates far less than wall time.
type cpuClock struct{ start time.Duration }

func threadCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) cpuClock {
	runtime.LockOSThread()
	b.Cleanup(runtime.UnlockOSThread)
	b.ResetTimer()
	return cpuClock{threadCPU()}
}

func (c cpuClock) report(b *testing.B, n int, unit string) {
	b.ReportMetric(float64(threadCPU()-c.start)/float64(n), unit)
}

// BenchmarkMaskStringWalk measures the worst single mask: inside a
// string, where almost every token is allowed, with no cached mask (a
// fresh matcher each time, its transitions cached after the first).
func BenchmarkMaskStringWalk(b *testing.B) {
	v := realVocab(b, "qwen3")
	g, err := CompileSchema([]byte(`{"type":"string"}`))
	if err != nil {
		b.Fatal(err)
	}
	m, _ := g.NewMatcher(v)
	mask := make([]uint64, v.MaskWords())
	// Enter the string with the single-byte token for '"'.
	for id, p := range v.pieces {
		if string(p) == `"` {
			if err := m.Accept(int32(id)); err != nil {
				b.Fatal(err)
			}
			break
		}
	}
	m.Mask(mask, NoBudget) // fills the transition table
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		m.configs[m.cur].mask = nil // force a walk
		m.Mask(mask, NoBudget)
	}
	cpu.report(b, b.N, "cpu-ns/op")
}

// BenchmarkMaskCached is a mask served from the state's cache.
func BenchmarkMaskCached(b *testing.B) {
	v := realVocab(b, "qwen3")
	m, _ := JSON().NewMatcher(v)
	mask := make([]uint64, v.MaskWords())
	m.Mask(mask, NoBudget)
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		m.Mask(mask, NoBudget)
	}
	cpu.report(b, b.N, "cpu-ns/op")
}

// BenchmarkMaskCountedString is the costliest steady state: a string
// with maxLength, where every token leads to a new state (a character
// count), so each mask walks the whole trie.
func BenchmarkMaskCountedString(b *testing.B) {
	v := realVocab(b, "qwen3")
	g, err := CompileSchema([]byte(`{"type":"string","maxLength":100000}`))
	if err == nil {
		b.Fatal("maxLength 100000 compiled")
	}
	g, err = CompileSchema([]byte(`{"type":"string","maxLength":5000}`))
	if err != nil {
		b.Fatal(err)
	}
	var quote, word int32 = -1, -1
	for id, p := range v.pieces {
		switch string(p) {
		case `"`:
			quote = int32(id)
		case "a":
			word = int32(id)
		}
	}
	m, _ := g.NewMatcher(v)
	mask := make([]uint64, v.MaskWords())
	if err := m.Accept(quote); err != nil {
		b.Fatal(err)
	}
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		if i%4000 == 3999 {
			b.StopTimer()
			m, _ = g.NewMatcher(v)
			if err := m.Accept(quote); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		m.Mask(mask, NoBudget)
		if err := m.Accept(word); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b, b.N, "cpu-ns/token")
}

// BenchmarkFirstMask is the first mask of a new request for a JSON
// object (Ollama's format "json"): compile, a fresh matcher, one mask.
func BenchmarkFirstMask(b *testing.B) {
	v := realVocab(b, "qwen3")
	mask := make([]uint64, v.MaskWords())
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		m, _ := JSONObject().NewMatcher(v)
		m.Mask(mask, NoBudget)
	}
	cpu.report(b, b.N, "cpu-ns/op")
}
