package sample

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// mustNew returns a Sampler for p; the tests leave the repeat penalty
// off (1) unless they set it.
func mustNew(t *testing.T, p Params) *Sampler {
	t.Helper()
	if p.RepeatPenalty == 0 {
		p.RepeatPenalty = 1
	}
	s, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pick samples a token, failing the test on an error.
func pick(t *testing.T, s *Sampler, logits []float32, history []int32) int32 {
	t.Helper()
	id, err := s.Sample(logits, history)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestGreedy(t *testing.T) {
	s := mustNew(t, Greedy())
	if got := pick(t, s, []float32{1, 3, 3, 2}, nil); got != 1 {
		t.Errorf("greedy tie: got %d, want the lowest id 1", got)
	}
	nan := float32(math.NaN())
	if got := Argmax([]float32{nan, -1, nan, -0.5}); got != 3 {
		t.Errorf("Argmax with NaNs: got %d, want 3", got)
	}
}

// TestNotFinite checks that logits with a NaN or +Inf are an error,
// whatever the parameters, rather than a token: broken weights would
// otherwise give token 0 (or any) forever. (-Inf is a masked token:
// TestMaskedLogits.)
func TestNotFinite(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, p := range []Params{Greedy(), {Temperature: 0.8, TopK: 40, TopP: 0.9, RepeatPenalty: 1.1}, {Temperature: 1, RepeatPenalty: 1}} {
		s := mustNew(t, p)
		for _, logits := range [][]float32{
			{float32(math.NaN()), 1, 2},
			{1, inf, 2},
			{float32(math.NaN()), float32(math.NaN())},
		} {
			_, err := s.Sample(logits, []int32{0})
			if !errors.Is(err, ErrNotFinite) {
				t.Errorf("%+v on %v: error %v, want ErrNotFinite", p, logits, err)
			}
		}
	}
	if _, err := mustNew(t, Greedy()).Sample(nil, nil); err == nil {
		t.Error("no logits: no error")
	}
}

func TestRepeatPenalty(t *testing.T) {
	// llama.cpp: positive logits divided, negative multiplied.
	s := mustNew(t, Params{RepeatPenalty: 2})
	logits := []float32{4, 3, -1}
	if got := pick(t, s, logits, []int32{0}); got != 1 {
		t.Errorf("got %d, want 1 (token 0 penalised from 4 to 2)", got)
	}
	if logits[0] != 4 {
		t.Error("Sample modified its input")
	}
	s = mustNew(t, Params{FrequencyPenalty: 1, PresencePenalty: 0.5})
	// token 0: 4 - 2*1 - 0.5 = 1.5 < 3
	if got := pick(t, s, []float32{4, 3}, []int32{0, 0}); got != 1 {
		t.Errorf("frequency/presence: got %d, want 1", got)
	}
	// Outside the window the token is not penalised.
	s = mustNew(t, Params{RepeatPenalty: 10, PenaltyLastN: 1})
	if got := pick(t, s, []float32{4, 3}, []int32{0, 1}); got != 0 {
		t.Errorf("window: got %d, want 0", got)
	}
}

// draw samples many times and returns how often each token came up.
func draw(t *testing.T, p Params, logits []float32, n int) []int {
	t.Helper()
	s := mustNew(t, p)
	counts := make([]int, len(logits))
	for range n {
		counts[pick(t, s, logits, nil)]++
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
		if got := pick(t, s, big, nil); got > 700 {
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
			out = append(out, pick(t, s, logits, out))
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
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	ok := Greedy()
	for _, c := range []struct {
		change     func(p *Params)
		flag, json string // the messages' beginnings
	}{
		{func(p *Params) { p.TopP = 1.5 }, "--top-p 1.5: must be between 0 and 1", "top_p 1.5: must be between 0 and 1"},
		{func(p *Params) { p.TopP = -1 }, "--top-p -1: must be between 0 and 1", "top_p -1"},
		{func(p *Params) { p.TopP = nan }, "--top-p NaN", "top_p NaN"},
		{func(p *Params) { p.MinP = 2 }, "--min-p 2: must be between 0", "min_p 2"},
		{func(p *Params) { p.MinP = -0.1 }, "--min-p -0.1", "min_p -0.1"},
		{func(p *Params) { p.RepeatPenalty = 0 }, "--repeat-penalty 0: must be a number greater than 0", "repeat_penalty 0"},
		{func(p *Params) { p.RepeatPenalty = -1 }, "--repeat-penalty -1", "repeat_penalty -1"},
		{func(p *Params) { p.RepeatPenalty = inf }, "--repeat-penalty +Inf", "repeat_penalty +Inf"},
		{func(p *Params) { p.Temperature = -1 }, "--temp -1: must be a number, 0 (greedy) or more", "temperature -1"},
		{func(p *Params) { p.Temperature = nan }, "--temp NaN", "temperature NaN"},
		{func(p *Params) { p.Temperature = inf }, "--temp +Inf", "temperature +Inf"},
		{func(p *Params) { p.TopK = -1 }, "--top-k -1: must be 0 (off) or more", "top_k -1"},
		{func(p *Params) { p.FrequencyPenalty = nan }, "--frequency-penalty NaN", "frequency_penalty NaN"},
		{func(p *Params) { p.PresencePenalty = -inf }, "--presence-penalty -Inf", "presence_penalty -Inf"},
		{func(p *Params) { p.PenaltyLastN = -2 }, "--repeat-last-n -2", "repeat_last_n -2"},
	} {
		p := ok
		c.change(&p)
		_, err := New(p)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("New(%+v): error %v, want a FieldError", p, err)
			continue
		}
		if !strings.HasPrefix(fe.Error(), c.flag) || !strings.HasPrefix(fe.JSONError(), c.json) {
			t.Errorf("New(%+v): messages %q and %q, want %q and %q", p, fe.Error(), fe.JSONError(), c.flag, c.json)
		}
	}
	// The ends of each range are valid.
	for _, p := range []Params{
		ok, {TopP: 0, MinP: 0, RepeatPenalty: 0.01}, {TopP: 1, MinP: 1, RepeatPenalty: 2, Temperature: 5, TopK: 1, PenaltyLastN: -1},
		{RepeatPenalty: 1, FrequencyPenalty: -2, PresencePenalty: 2},
	} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
}

func TestRunChecks(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string // "" for valid
	}{
		{CheckMaxTokens(-1), ""}, {CheckMaxTokens(0), ""}, {CheckMaxTokens(-5), "-n -5: must be -1 (no limit), 0 or more"},
		{CheckContext(0), ""}, {CheckContext(MaxContext), ""},
		{CheckContext(-1), "--ctx -1: must be between 0 (the model's) and 16777216"},
		{CheckContext(1e9), "--ctx 1000000000: must be between"},
		{CheckThreads(0), ""}, {CheckThreads(-3), "--threads -3: must be between 0 (the default) and 1024"},
		{CheckThreads(MaxThreads + 1), "--threads 1025"},
		{CheckAtLeast("r", "repetitions", 0, 1), "-r 0: must be 1 or more"}, {CheckAtLeast("r", "repetitions", 1, 1), ""},
	} {
		switch {
		case c.want == "" && c.err != nil:
			t.Errorf("unexpected error %v", c.err)
		case c.want != "" && (c.err == nil || c.err.Error() != c.want && !strings.HasPrefix(c.err.Error(), c.want)):
			t.Errorf("error %v, want %q", c.err, c.want)
		}
	}
	var fe *FieldError
	if !errors.As(CheckMaxTokens(-5), &fe) || fe.JSONError() != "max_tokens -5: must be -1 (no limit), 0 or more" {
		t.Errorf("JSON message of -n: %v", fe)
	}
}

func TestTopKOrder(t *testing.T) {
	s := mustNew(t, Greedy())
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
		{"greedy", Greedy()},
		{"topk40", Params{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1}},
		{"topp-only", Params{Temperature: 0.8, TopP: 0.9, RepeatPenalty: 1}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := New(tc.p)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.Sample(logits, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestMaskedLogits(t *testing.T) {
	inf := float32(math.Inf(-1))
	for _, p := range []Params{Greedy(), {Temperature: 1, TopK: 40, TopP: 0.9, RepeatPenalty: 1.1, Seed: 3}} {
		s, err := New(p)
		if err != nil {
			t.Fatal(err)
		}
		for range 50 {
			tok, err := s.Sample([]float32{inf, 0.5, inf, -1}, []int32{1, 3})
			if err != nil || (tok != 1 && tok != 3) {
				t.Fatalf("%+v: drew %d, %v from a mask allowing 1 and 3", p, tok, err)
			}
		}
		if _, err := s.Sample([]float32{inf, inf}, nil); !errors.Is(err, ErrNoneAllowed) {
			t.Fatalf("all masked: %v", err)
		}
		if _, err := s.Sample([]float32{float32(math.Inf(1)), 0}, nil); !errors.Is(err, ErrNotFinite) {
			t.Fatalf("+Inf: %v", err)
		}
	}
}
