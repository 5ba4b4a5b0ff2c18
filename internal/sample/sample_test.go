package sample

import (
	"math"
	"slices"
	"testing"
)

func mustNew(t *testing.T, p Params) *Sampler {
	t.Helper()
	s, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGreedy(t *testing.T) {
	s := mustNew(t, Params{})
	if got := s.Sample([]float32{1, 3, 3, 2}, nil); got != 1 {
		t.Errorf("greedy tie: got %d, want the lowest id 1", got)
	}
	nan := float32(math.NaN())
	if got := s.Sample([]float32{nan, -1, nan, -0.5}, nil); got != 3 {
		t.Errorf("greedy with NaNs: got %d, want 3", got)
	}
}

func TestRepeatPenalty(t *testing.T) {
	// llama.cpp: positive logits divided, negative multiplied.
	s := mustNew(t, Params{RepeatPenalty: 2})
	logits := []float32{4, 3, -1}
	if got := s.Sample(logits, []int32{0}); got != 1 {
		t.Errorf("got %d, want 1 (token 0 penalised from 4 to 2)", got)
	}
	if logits[0] != 4 {
		t.Error("Sample modified its input")
	}
	s = mustNew(t, Params{FrequencyPenalty: 1, PresencePenalty: 0.5})
	// token 0: 4 - 2*1 - 0.5 = 1.5 < 3
	if got := s.Sample([]float32{4, 3}, []int32{0, 0}); got != 1 {
		t.Errorf("frequency/presence: got %d, want 1", got)
	}
	// Outside the window the token is not penalised.
	s = mustNew(t, Params{RepeatPenalty: 10, PenaltyLastN: 1})
	if got := s.Sample([]float32{4, 3}, []int32{0, 1}); got != 0 {
		t.Errorf("window: got %d, want 0", got)
	}
}

// draw samples many times and returns how often each token came up.
func draw(t *testing.T, p Params, logits []float32, n int) []int {
	t.Helper()
	s := mustNew(t, p)
	counts := make([]int, len(logits))
	for range n {
		counts[s.Sample(logits, nil)]++
	}
	return counts
}

func TestTopK(t *testing.T) {
	c := draw(t, Params{Temperature: 1, TopK: 2, Seed: 1}, []float32{0, 1, 2, 3}, 2000)
	if c[0] != 0 || c[1] != 0 || c[2] == 0 || c[3] == 0 {
		t.Errorf("top-k 2 drew %v", c)
	}
}

func TestTopP(t *testing.T) {
	// probabilities ~ 0.64, 0.24, 0.09, 0.03: top-p 0.8 keeps two.
	logits := []float32{3, 2, 1, 0}
	c := draw(t, Params{Temperature: 1, TopP: 0.8, Seed: 2}, logits, 3000)
	if c[2] != 0 || c[3] != 0 || c[0] == 0 || c[1] == 0 {
		t.Errorf("top-p 0.8 drew %v", c)
	}
	// A large vocabulary exercises the partitioning over many pivots.
	big := make([]float32, 100000)
	for i := range big {
		big[i] = -float32(i) / 1000
	}
	s := mustNew(t, Params{Temperature: 1, TopP: 0.5, Seed: 3})
	for range 100 {
		// Tokens are e^{-i/1000}: half the mass lies below i ≈ 693.
		if got := s.Sample(big, nil); got > 700 {
			t.Fatalf("top-p 0.5 drew token %d", got)
		}
	}
}

func TestMinP(t *testing.T) {
	// min-p 0.3: keep tokens with p >= 0.3 * p_max, i.e. logit >= max + ln 0.3 = max - 1.2.
	c := draw(t, Params{Temperature: 1, MinP: 0.3, Seed: 4}, []float32{3, 2, 1.5, 0}, 3000)
	if c[2] != 0 || c[3] != 0 || c[0] == 0 || c[1] == 0 {
		t.Errorf("min-p 0.3 drew %v", c)
	}
}

func TestTemperatureDistribution(t *testing.T) {
	// At temperature 1 the frequencies approach softmax(logits).
	logits := []float32{1, 0, -1}
	n := 60000
	c := draw(t, Params{Temperature: 1, Seed: 5}, logits, n)
	z := math.Exp(1) + 1 + math.Exp(-1)
	for i, l := range logits {
		want := math.Exp(float64(l)) / z
		if got := float64(c[i]) / float64(n); math.Abs(got-want) > 0.01 {
			t.Errorf("token %d: frequency %.3f, want %.3f", i, got, want)
		}
	}
	// A low temperature concentrates the mass on the best token.
	c = draw(t, Params{Temperature: 0.1, Seed: 5}, logits, 1000)
	if c[0] < 990 {
		t.Errorf("temperature 0.1 drew %v", c)
	}
}

func TestSeedReproducible(t *testing.T) {
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)))
	}
	run := func(seed uint64) []int32 {
		s := mustNew(t, Params{Temperature: 0.9, TopK: 50, TopP: 0.95, MinP: 0.02, Seed: seed})
		var out []int32
		for range 50 {
			out = append(out, s.Sample(logits, out))
		}
		return out
	}
	if a, b := run(7), run(7); !slices.Equal(a, b) {
		t.Error("same seed, different tokens")
	}
	if a, b := run(7), run(8); slices.Equal(a, b) {
		t.Error("different seeds, same 50 tokens")
	}
}

func TestValidate(t *testing.T) {
	for _, p := range []Params{
		{TopP: 1.5}, {MinP: 2}, {RepeatPenalty: -1},
		{Temperature: float32(math.NaN())}, {Temperature: float32(math.Inf(1))},
		{FrequencyPenalty: float32(math.NaN())},
	} {
		if _, err := New(p); err == nil {
			t.Errorf("New(%+v) accepted bad parameters", p)
		}
	}
}

func TestTopKOrder(t *testing.T) {
	s := mustNew(t, Params{})
	top := s.topK([]float32{5, 1, 5, 3, 9, 0, 3}, 4)
	var ids []int32
	for _, x := range top {
		ids = append(ids, x.id)
	}
	if want := []int32{4, 0, 2, 3}; !slices.Equal(ids, want) {
		t.Errorf("topK = %v, want %v", ids, want)
	}
}

func TestTopPExact(t *testing.T) {
	// Against a sort: the kept set is the smallest prefix of the sorted
	// candidates whose mass reaches p.
	s := mustNew(t, Params{TopP: 0.7})
	logits := make([]float32, 5000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)*1.7)) * 3
	}
	var c []cand
	for i, l := range logits {
		c = append(c, cand{id: int32(i), logit: l})
	}
	got := s.topP(slices.Clone(c))
	slices.SortFunc(c, func(a, b cand) int {
		if better(a, b) {
			return -1
		}
		return 1
	})
	var total, acc float64
	for _, x := range c {
		total += math.Exp(float64(x.logit))
	}
	n := 0
	for n < len(c) && acc < 0.7*total {
		acc += math.Exp(float64(c[n].logit))
		n++
	}
	if len(got) != n {
		t.Fatalf("top-p kept %d, want %d", len(got), n)
	}
	ids := map[int32]bool{}
	for _, x := range got {
		ids[x.id] = true
	}
	for _, x := range c[:n] {
		if !ids[x.id] {
			t.Fatalf("token %d missing", x.id)
		}
	}
}

func TestStopper(t *testing.T) {
	s := NewStopper([]string{"</end>", "STOP"})
	var shown string
	for _, piece := range []string{"Hello", " wor", "ld <", "/en", "d> more"} {
		out, stop := s.Add(piece)
		shown += out
		if stop {
			break
		}
	}
	if shown != "Hello world " {
		t.Errorf("shown %q", shown)
	}
	// A held-back prefix that turns out not to be a stop string comes out.
	s = NewStopper([]string{"STOP"})
	out1, _ := s.Add("ST")
	out2, stop := s.Add("ART")
	if out1+out2 != "START" || stop {
		t.Errorf("got %q %q stop=%v", out1, out2, stop)
	}
	s.Add("xS")
	if f := s.Flush(); f != "S" {
		t.Errorf("flush %q", f)
	}
}

func BenchmarkSample(b *testing.B) {
	logits := make([]float32, 151936)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i) * 0.37))
	}
	for _, tc := range []struct {
		name string
		p    Params
	}{
		{"greedy", Params{}},
		{"topk40", Params{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05}},
		{"topp-only", Params{Temperature: 0.8, TopP: 0.9}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, _ := New(tc.p)
			for b.Loop() {
				s.Sample(logits, nil)
			}
		})
	}
}
