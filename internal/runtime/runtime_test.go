package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/model/synth"
	"github.com/raym33/ainative/internal/sample"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/tokenizer"
)

// files is a Source over model files by name.
type files map[string]string

func (f files) Resolve(_ context.Context, name string) (Resolved, error) {
	p, ok := f[name]
	if !ok {
		return Resolved{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	st, err := os.Stat(p)
	if err != nil {
		return Resolved{}, err
	}
	return Resolved{Name: name, Path: p, Digest: "sha256:" + name, Size: st.Size()}, nil
}

var (
	tinyOnce sync.Once
	tinyPath string
	tinyErr  error
)

// tinyModel writes the synthesized tiny llama (a few MB) once per run.
func tinyModel(t testing.TB) string {
	t.Helper()
	tinyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ainative-runtime-test")
		if err != nil {
			tinyErr = err
			return
		}
		m, err := synth.New(synth.Options{Shape: "tiny", Type: "Q8_0", Seed: 7})
		if err != nil {
			tinyErr = err
			return
		}
		tinyPath = filepath.Join(dir, "tiny.gguf")
		tinyErr = m.WriteFile(context.Background(), tinyPath)
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tinyPath != "" {
		os.RemoveAll(filepath.Dir(tinyPath))
	}
	os.Exit(code)
}

func newRuntime(t *testing.T, cfg Config) *Runtime {
	t.Helper()
	if cfg.Source == nil {
		cfg.Source = files{"tiny": tinyModel(t)}
	}
	if cfg.Threads == 0 {
		cfg.Threads = 2
	}
	if cfg.NumCtx == 0 {
		cfg.NumCtx = 256
	}
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// solo generates greedily with the engine alone, one sequence, stopping
// at an end-of-generation token as the runtime does. margins[i] is the
// gap between the best and second-best logit at step i: where it is tiny,
// float sums added in another order (a batch of 8 tokens goes through
// other kernels than a single one) may pick the other token.
func solo(t *testing.T, prompt []int32, n int) (out []int32, margins []float32) {
	t.Helper()
	f, err := gguf.Open(tinyModel(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(f, model.Options{Threads: 2, ContextLength: 256, KVType: tensor.F16})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = m.Generate(context.Background(), m.NewSequence(), prompt, n,
		func(logits []float32) int32 {
			best := sample.Argmax(logits)
			second := float32(math.Inf(-1))
			for i, x := range logits {
				if int32(i) != best {
					second = max(second, x)
				}
			}
			margins = append(margins, logits[best]-second)
			return best
		},
		func(t int32) bool {
			if tok.IsEOG(t) {
				return true
			}
			out = append(out, t)
			return false
		})
	if err != nil {
		t.Fatal(err)
	}
	return out, margins
}

// sameGreedy compares a batched greedy run with the solo one: equal, or
// equal up to a step where the solo run's top two logits were within
// float noise of each other (Q8_0 activations: up to ~1e-2).
func sameGreedy(got, want []int32, margins []float32) bool {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return margins[i] < 1e-2
		}
	}
	return len(got) == len(want)
}

// run collects a generation's tokens and final event.
func run(t *testing.T, m *Model, ctx context.Context, req Request) ([]int32, Event) {
	t.Helper()
	ch, err := m.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var toks []int32
	var last Event
	n := 0
	for ev := range ch {
		toks = append(toks, ev.Tokens...)
		if ev.Done {
			last = ev
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d final events, want 1", n)
	}
	return toks, last
}

func prompt(seed, n int) []int32 {
	p := make([]int32, n)
	for i := range p {
		p[i] = int32(3 + (seed*131+i*17)%500)
	}
	return p
}

// The tiny model's synthetic vocabulary has no end-of-generation token
// that greedy decoding on these prompts reaches, so generations run to
// MaxTokens: the comparison covers every step.
func TestBatchedEqualsSolo(t *testing.T) {
	for _, repack := range []bool{false, true} {
		t.Run(fmt.Sprintf("repack=%v", repack), func(t *testing.T) { testBatchedEqualsSolo(t, repack) })
	}
}

func testBatchedEqualsSolo(t *testing.T, repack bool) {
	rt := newRuntime(t, Config{NumParallel: 8, Repack: repack})
	m := acquire(t, rt, "tiny")
	const n = 12
	prompts := make([][]int32, 8)
	want := make([][]int32, 8)
	margins := make([][]float32, 8)
	for i := range prompts {
		prompts[i] = prompt(i, 5+i*7)
		want[i], margins[i] = solo(t, prompts[i], n)
	}
	var wg sync.WaitGroup
	got := make([][]int32, len(prompts))
	ends := make([]Event, len(prompts))
	for i := range prompts {
		wg.Go(func() {
			got[i], ends[i] = run(t, m, context.Background(), Request{Tokens: prompts[i], MaxTokens: n})
		})
	}
	wg.Wait()
	for i := range prompts {
		if ends[i].Err != nil {
			t.Fatalf("sequence %d: %v", i, ends[i].Err)
		}
		if !sameGreedy(got[i], want[i], margins[i]) {
			t.Errorf("sequence %d: batched %v, solo %v (margins %v)", i, got[i], want[i], margins[i])
		}
		if ends[i].Stats.EvalTokens != len(got[i]) || ends[i].Stats.PromptTokens != len(prompts[i]) {
			t.Errorf("sequence %d: end %+v", i, ends[i])
		}
	}
	if s := rt.Metrics().Snapshot(); s.Steps >= int64(8*n) {
		t.Errorf("%d forward passes for 8 sequences of %d tokens: not batched", s.Steps, n)
	}
}

// TestRepackMemory checks that the memory a loaded model is counted for
// includes the copy Config.Repack makes, where this CPU has the layout.
func TestRepackMemory(t *testing.T) {
	probe := tensor.Matrix{Type: tensor.Q8_0, Rows: 8, Cols: 32, Data: make([]byte, 8*34)}
	haveLayout := probe.Interleave()
	var size [2]int64
	for i, repack := range []bool{false, true} {
		rt := newRuntime(t, Config{NumCtx: 64, NumParallel: 1, Repack: repack})
		acquire(t, rt, "tiny")
		size[i] = rt.Loaded()[0].Size
	}
	if haveLayout != (size[1] > size[0]) || size[1] < size[0] {
		t.Errorf("loaded size %d without the copy, %d with it (layout here: %v)", size[0], size[1], haveLayout)
	}
}

func TestPrefixReused(t *testing.T) {
	rt := newRuntime(t, Config{NumParallel: 2})
	m := acquire(t, rt, "tiny")
	p := prompt(1, 40)
	first, end1 := run(t, m, context.Background(), Request{Tokens: p, MaxTokens: 6})
	if end1.Stats.CachedTokens != 0 {
		t.Fatalf("first request reused %d tokens of an empty cache", end1.Stats.CachedTokens)
	}
	// The next turn: the first prompt, its answer and more.
	next := append(append(append([]int32(nil), p...), first...), prompt(2, 10)...)
	got, end2 := run(t, m, context.Background(), Request{Tokens: next, MaxTokens: 6})
	// The last generated token was never fed back, so the cache holds
	// the prompt and all but the last answer token.
	if want := len(p) + len(first) - 1; end2.Stats.CachedTokens != want {
		t.Errorf("second turn reused %d tokens, want %d", end2.Stats.CachedTokens, want)
	}
	if want, margins := solo(t, next, 6); !sameGreedy(got, want, margins) {
		t.Errorf("second turn from the cache %v, from scratch %v", got, want)
	}
}

func TestCancelFreesSlot(t *testing.T) {
	rt := newRuntime(t, Config{NumParallel: 1})
	m := acquire(t, rt, "tiny")
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := m.Generate(ctx, Request{Tokens: prompt(3, 8), MaxTokens: -1})
	if err != nil {
		t.Fatal(err)
	}
	<-ch // the first token: the sequence runs
	cancel()
	var last Event
	for ev := range ch {
		last = ev
	}
	if !last.Done || last.Reason != StopCanceled {
		t.Fatalf("cancelled generation ended with %+v", last)
	}
	// The only slot is free again.
	_, end := run(t, m, context.Background(), Request{Tokens: prompt(4, 8), MaxTokens: 3})
	if end.Err != nil || end.Stats.EvalTokens != 3 {
		t.Fatalf("after a cancel: %+v", end)
	}
}

func TestQueueFull(t *testing.T) {
	rt := newRuntime(t, Config{NumParallel: 1, MaxQueue: 2})
	m := acquire(t, rt, "tiny")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var chans []<-chan Event
	var full int
	for range 6 {
		ch, err := m.Generate(ctx, Request{Tokens: prompt(5, 8), MaxTokens: -1})
		if errors.Is(err, ErrQueueFull) {
			full++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	// One runs, two wait, the rest are refused (the first may already
	// have left the queue, making room for one more).
	if full < 2 || len(chans) > 4 {
		t.Fatalf("%d accepted, %d refused with a queue of 2 and 1 slot", len(chans), full)
	}
	cancel()
	for _, ch := range chans {
		for range ch {
		}
	}
}

func TestPromptTooLong(t *testing.T) {
	rt := newRuntime(t, Config{NumCtx: 64})
	m := acquire(t, rt, "tiny")
	_, err := m.Generate(context.Background(), Request{Tokens: prompt(1, 64)})
	var tl *PromptTooLongError
	if !errors.As(err, &tl) || tl.Limit != 64 || tl.Tokens != 64 {
		t.Fatalf("64 tokens in a context of 64: %v", err)
	}
	_, err = m.Generate(context.Background(), Request{Tokens: []int32{1, 99999}})
	var bad *BadRequestError
	if !errors.As(err, &bad) {
		t.Fatalf("token outside the vocabulary: %v", err)
	}
}

func TestNotFound(t *testing.T) {
	rt := newRuntime(t, Config{})
	if _, err := rt.Acquire(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown model: %v", err)
	}
}

func TestKeepAliveZeroUnloads(t *testing.T) {
	rt := newRuntime(t, Config{})
	m, err := rt.Acquire(context.Background(), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Loaded()) != 1 {
		t.Fatalf("loaded: %v", rt.Loaded())
	}
	zero := time.Duration(0)
	m.Release(&zero)
	if l := rt.Loaded(); len(l) != 0 {
		t.Fatalf("still loaded after keep_alive 0: %v", l)
	}
}

func TestMemoryBudget(t *testing.T) {
	path := tinyModel(t)
	rt := newRuntime(t, Config{Source: files{"a": path, "b": path}, MemoryBudget: 1})
	_, err := rt.Acquire(context.Background(), "a")
	if !errors.Is(err, ErrNoMemory) {
		t.Fatalf("a model over a 1-byte budget: %v", err)
	}
	// Learn one model's size, then allow one and a half.
	probe := newRuntime(t, Config{Source: files{"a": path}, NumCtx: 64, NumParallel: 1})
	pm, err := probe.Acquire(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	size := probe.Loaded()[0].Size
	pm.Release(nil)
	rt2 := newRuntime(t, Config{Source: files{"a": path, "b": path}, MemoryBudget: size * 3 / 2, NumCtx: 64, NumParallel: 1})
	a, err := rt2.Acquire(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// a is in use: b does not fit beside it.
	if _, err := rt2.Acquire(context.Background(), "b"); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("b beside a busy a: %v", err)
	}
	a.Release(nil)
	// a is idle: it is unloaded to make room.
	b, err := rt2.Acquire(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release(nil)
	if l := rt2.Loaded(); len(l) != 1 || l[0].Name != "b" {
		t.Fatalf("loaded: %+v", l)
	}
}

func TestStopStringsAndText(t *testing.T) {
	rt := newRuntime(t, Config{})
	m := acquire(t, rt, "tiny")
	p := prompt(9, 10)
	ch, err := m.Generate(context.Background(), Request{Tokens: p, MaxTokens: 20})
	if err != nil {
		t.Fatal(err)
	}
	var text string
	for ev := range ch {
		text += ev.Text
	}
	if len(text) < 4 {
		t.Skipf("the tiny model's answer %q is too short to cut", text)
	}
	stop := text[2:4]
	ch, err = m.Generate(context.Background(), Request{Tokens: p, MaxTokens: 20, Stop: []string{stop}})
	if err != nil {
		t.Fatal(err)
	}
	var cut string
	var last Event
	for ev := range ch {
		cut += ev.Text
		last = ev
	}
	if cut != text[:2] || last.Reason != StopEnd {
		t.Fatalf("stop %q in %q: got %q (%s)", stop, text, cut, last.Reason)
	}
}

func TestLogprobs(t *testing.T) {
	rt := newRuntime(t, Config{})
	m := acquire(t, rt, "tiny")
	ch, err := m.Generate(context.Background(), Request{Tokens: prompt(2, 6), MaxTokens: 3, Logprobs: 3})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ev := range ch {
		for _, lp := range ev.Logprobs {
			n++
			if len(lp.Top) != 3 || lp.Top[0].Token != lp.Token || lp.Logprob > 0 || lp.Top[0].Logprob < lp.Top[1].Logprob {
				t.Fatalf("greedy token %d logprob %v, top %v", lp.Token, lp.Logprob, lp.Top)
			}
		}
	}
	if n != 3 {
		t.Fatalf("%d logprobs for 3 tokens", n)
	}
}

func TestNumCtxBeyondTraining(t *testing.T) {
	rt := newRuntime(t, Config{})
	m := acquire(t, rt, "tiny")
	_, err := m.Generate(context.Background(), Request{Tokens: prompt(1, 4), NumCtx: 1 << 20})
	var bad *BadRequestError
	if !errors.As(err, &bad) || !strings.Contains(err.Error(), "beyond the context of model tiny (2048 tokens") {
		t.Fatalf("num_ctx beyond training: %v", err)
	}
}

// Background requests wait behind interactive ones, whatever their order.
func TestPriority(t *testing.T) {
	rt := newRuntime(t, Config{NumParallel: 1})
	m := acquire(t, rt, "tiny")
	// Hold the only slot, then queue a background request before an
	// interactive one.
	ctx, cancel := context.WithCancel(context.Background())
	hold, err := m.Generate(ctx, Request{Tokens: prompt(1, 4), MaxTokens: -1})
	if err != nil {
		t.Fatal(err)
	}
	<-hold
	bg, err := m.Generate(context.Background(), Request{Tokens: prompt(2, 4), MaxTokens: 1, Priority: Background})
	if err != nil {
		t.Fatal(err)
	}
	fg, err := m.Generate(context.Background(), Request{Tokens: prompt(3, 4), MaxTokens: 1, Priority: Interactive})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for range hold {
	}
	// Which consumer sees its end first is up to the Go scheduler, so
	// the order is read from the queueing times: the background request
	// came first, so it waited longer only if the other went ahead of it.
	// (First come first served would admit it at once when the slot
	// freed, and the interactive one would wait for it.)
	var bgEnd, fgEnd Event
	var wg sync.WaitGroup
	for _, c := range []struct {
		ch  <-chan Event
		end *Event
	}{{bg, &bgEnd}, {fg, &fgEnd}} {
		wg.Go(func() {
			for ev := range c.ch {
				*c.end = ev
			}
		})
	}
	wg.Wait()
	if !bgEnd.Done || !fgEnd.Done || bgEnd.Err != nil || fgEnd.Err != nil {
		t.Fatalf("ends: background %+v, interactive %+v", bgEnd, fgEnd)
	}
	if bgEnd.Stats.Queued <= fgEnd.Stats.Queued {
		t.Fatalf("background queued %v, interactive %v: want the interactive one admitted first", bgEnd.Stats.Queued, fgEnd.Stats.Queued)
	}
}

// swappable resolves "tiny" to one file under a digest the test changes,
// as a re-pull of the same name does.
type swappable struct {
	mu     sync.Mutex
	path   string
	digest string
}

func (s *swappable) Resolve(_ context.Context, name string) (Resolved, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Resolved{Name: name, Path: s.path, Digest: s.digest}, nil
}

// A model replaced under its name while a request holds it is served
// from the new file to new requests, and the old one is shut down when
// its last holder lets go.
func TestReplacedModelUnloadsWhenReleased(t *testing.T) {
	src := &swappable{path: tinyModel(t), digest: "sha256:one"}
	rt := newRuntime(t, Config{Source: src, NumCtx: 64, NumParallel: 1})
	old, err := rt.Acquire(context.Background(), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	src.digest = "sha256:two"
	src.mu.Unlock()
	cur, err := rt.Acquire(context.Background(), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Release(nil)
	if l := rt.Loaded(); len(l) != 1 || l[0].Digest != "sha256:two" {
		t.Fatalf("loaded after the replacement: %+v", l)
	}
	old.Release(nil)
	select {
	case <-old.r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the replaced model was never shut down")
	}
	if _, err := cur.Generate(context.Background(), Request{Tokens: prompt(1, 4), MaxTokens: 1}); err != nil {
		t.Fatalf("the new model: %v", err)
	}
}

// acquire holds the model name for the rest of the test.
func acquire(t *testing.T, rt *Runtime, name string) *Model {
	t.Helper()
	m, err := rt.Acquire(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Release(nil) })
	return m
}
