// Package sample picks the next token from a model's logits.
//
// A Sampler applies, in llama.cpp's default order, the repetition
// penalties, then the filters that shrink the candidate set (top-k,
// top-p, min-p, all judged on the distribution at temperature 1), then
// the temperature, and draws from what remains with a seeded generator,
// so that a seed reproduces a generation. Temperature 0 is greedy
// decoding: the most likely token, the lowest id on ties.
//
// A Sampler reuses its buffers between calls and is not safe for
// concurrent use; give each sequence its own.
package sample

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Params configure a Sampler; Validate gives the range of each. Greedy
// returns greedy decoding.
type Params struct {
	// Temperature divides the logits before the draw; 0 means greedy.
	Temperature float32
	// TopK keeps the K most likely tokens; 0 keeps all.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose
	// probabilities add up to at least P; 1 (or 0) keeps all.
	TopP float32
	// MinP drops tokens less likely than MinP times the most likely
	// one; 0 keeps all.
	MinP float32
	// RepeatPenalty divides positive logits (multiplies negative ones)
	// of tokens seen in the last PenaltyLastN tokens; 1 is off.
	RepeatPenalty float32
	// FrequencyPenalty is subtracted once per occurrence, PresencePenalty
	// once per token seen, within the same window (OpenAI's penalties).
	FrequencyPenalty, PresencePenalty float32
	// PenaltyLastN is the penalty window; 0 means 64, < 0 the whole
	// history.
	PenaltyLastN int
	// Seed makes the draws reproducible.
	Seed uint64
}

// Greedy returns the parameters of greedy decoding: the most likely
// token, no penalties.
func Greedy() Params { return Params{RepeatPenalty: 1} }

// ErrNotFinite is wrapped by Sample's error for logits that are NaN or
// infinite: a model whose weights or metadata are broken computes them,
// and sampling from them would pick an arbitrary token forever.
var ErrNotFinite = errors.New("sample: the model's logits are not finite")

// Sampler picks tokens according to its Params.
type Sampler struct {
	p      Params
	rng    *rand.Rand
	cands  []cand
	counts map[int32]int
	tmp    []float32
}

type cand struct {
	id    int32
	logit float32
	prob  float32
}

// New returns a Sampler, or an error for parameters out of range.
func New(p Params) (*Sampler, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.PenaltyLastN == 0 {
		p.PenaltyLastN = 64
	}
	return &Sampler{p: p, rng: rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15)), counts: map[int32]int{}}, nil
}

// Greedy reports whether the sampler always takes the most likely token.
func (s *Sampler) Greedy() bool { return s.p.Temperature <= 0 }

// Sample picks a token from logits (one per vocabulary entry; not
// modified) given the tokens of the sequence so far, for the penalties.
// A logit of -Inf marks a token that may not be drawn (an output
// constraint masked it); NaN or +Inf is an error wrapping ErrNotFinite,
// and so is a mask that leaves no token.
func (s *Sampler) Sample(logits []float32, history []int32) (int32, error) {
	if len(logits) == 0 {
		return 0, errors.New("sample: no logits")
	}
	allowed := false
	for i, l := range logits {
		if math.IsInf(float64(l), -1) {
			continue
		}
		if !finite(l) {
			return 0, fmt.Errorf("%w: logit %d of %d is %v", ErrNotFinite, i, len(logits), l)
		}
		allowed = true
	}
	if !allowed {
		return 0, ErrNoneAllowed
	}
	return s.sample(logits, history), nil
}

// ErrNoneAllowed is returned when every logit is -Inf: nothing may come
// next.
var ErrNoneAllowed = errors.New("sample: no token is allowed (every logit is masked)")

func (s *Sampler) sample(logits []float32, history []int32) int32 {
	if s.penalized() {
		s.tmp = append(s.tmp[:0], logits...)
		s.penalize(s.tmp, history)
		logits = s.tmp
	}
	if s.Greedy() {
		return Argmax(logits)
	}
	var c []cand
	if k := s.p.TopK; k > 0 && k < len(logits) {
		c = s.topK(logits, k)
	} else {
		c = s.cands[:0]
		for i, l := range logits {
			if !math.IsNaN(float64(l)) {
				c = append(c, cand{id: int32(i), logit: l})
			}
		}
		s.cands = c
	}
	if len(c) == 0 {
		return Argmax(logits)
	}
	c = s.filter(c)
	// Temperature, then softmax, then the draw.
	inv := 1 / s.p.Temperature
	maxl := c[0].logit
	for _, x := range c {
		maxl = max(maxl, x.logit)
	}
	var sum float64
	for i := range c {
		c[i].prob = float32(math.Exp(float64((c[i].logit - maxl) * inv)))
		sum += float64(c[i].prob)
	}
	r := s.rng.Float64() * sum
	for _, x := range c {
		r -= float64(x.prob)
		if r < 0 {
			return x.id
		}
	}
	return c[len(c)-1].id
}

func (s *Sampler) penalized() bool {
	p := &s.p
	return p.RepeatPenalty != 1 || p.FrequencyPenalty != 0 || p.PresencePenalty != 0
}

// penalize applies llama.cpp's penalties sampler to logits in place.
func (s *Sampler) penalize(logits []float32, history []int32) {
	n := s.p.PenaltyLastN
	if n > 0 && len(history) > n {
		history = history[len(history)-n:]
	}
	clear(s.counts)
	for _, t := range history {
		if t >= 0 && int(t) < len(logits) {
			s.counts[t]++
		}
	}
	rp := s.p.RepeatPenalty
	for t, n := range s.counts {
		l := logits[t]
		if l <= 0 {
			l *= rp
		} else {
			l /= rp
		}
		logits[t] = l - float32(n)*s.p.FrequencyPenalty - s.p.PresencePenalty
	}
}

// filter applies top-p and min-p in llama.cpp's order (after top-k),
// judged at temperature 1, and returns the surviving candidates.
func (s *Sampler) filter(c []cand) []cand {
	p := &s.p
	if p.TopP > 0 && p.TopP < 1 && len(c) > 1 {
		c = s.topP(c)
	}
	if p.MinP > 0 {
		// p_i >= min_p * p_max  <=>  logit_i >= logit_max + ln(min_p)
		maxl := c[0].logit
		for _, x := range c {
			maxl = max(maxl, x.logit)
		}
		cut := maxl + float32(math.Log(float64(p.MinP)))
		kept := c[:0]
		for _, x := range c {
			if x.logit >= cut {
				kept = append(kept, x)
			}
		}
		c = kept
	}
	return c
}

// better orders candidates: higher logit first, lower id on ties.
func better(a, b cand) bool {
	return a.logit > b.logit || (a.logit == b.logit && a.id < b.id)
}

// topK returns the k best candidates of logits, best first, with a heap
// of k (one pass over the vocabulary, no candidate list).
func (s *Sampler) topK(logits []float32, k int) []cand {
	h := s.cands[:0]
	down := func(i int) { // sift the worse candidates to the root
		for {
			l, w := 2*i+1, i
			if l < len(h) && better(h[w], h[l]) {
				w = l
			}
			if r := l + 1; r < len(h) && better(h[w], h[r]) {
				w = r
			}
			if w == i {
				return
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	for i, l := range logits {
		x := cand{id: int32(i), logit: l}
		switch {
		case math.IsNaN(float64(l)):
		case len(h) < k:
			h = append(h, x)
			for j := len(h) - 1; j > 0; { // sift up
				p := (j - 1) / 2
				if !better(h[p], h[j]) {
					break
				}
				h[p], h[j] = h[j], h[p]
				j = p
			}
		case better(x, h[0]):
			h[0] = x
			down(0)
		}
	}
	s.cands = h
	slices.SortFunc(h, func(a, b cand) int {
		if better(a, b) {
			return -1
		}
		return 1
	})
	return h
}

// topP keeps the most likely candidates until their probability reaches
// TopP. Instead of sorting (a vocabulary has 150k entries), it
// partitions around pivots, quickselect-style, keeping whole partitions
// whose mass is still needed: linear time on average. The kept
// candidates come out in no particular order.
func (s *Sampler) topP(c []cand) []cand {
	maxl := c[0].logit
	for _, x := range c {
		maxl = max(maxl, x.logit)
	}
	var total float64
	for i := range c {
		c[i].prob = float32(math.Exp(float64(c[i].logit - maxl)))
		total += float64(c[i].prob)
	}
	want := float64(s.p.TopP) * total
	var acc float64 // mass of c[:lo], all better than c[lo:]
	lo, hi := 0, len(c)
	for lo < hi {
		// Partition c[lo:hi]: better than the pivot, the pivot at m, worse.
		mid := lo + (hi-lo)/2
		c[mid], c[hi-1] = c[hi-1], c[mid]
		pivot := c[hi-1]
		m := lo
		var above float64
		for i := lo; i < hi-1; i++ {
			if better(c[i], pivot) {
				above += float64(c[i].prob)
				c[i], c[m] = c[m], c[i]
				m++
			}
		}
		c[m], c[hi-1] = c[hi-1], c[m]
		switch {
		case acc+above >= want:
			hi = m
		case acc+above+float64(pivot.prob) >= want:
			return c[:m+1]
		default:
			acc += above + float64(pivot.prob)
			lo = m + 1
		}
	}
	return c[:min(lo+1, len(c))]
}

// Argmax returns the index of the largest logit, the lowest index on
// ties (NaNs are skipped).
func Argmax(logits []float32) int32 {
	best := -1
	for i, l := range logits {
		if math.IsNaN(float64(l)) {
			continue
		}
		if best < 0 || l > logits[best] {
			best = i
		}
	}
	return int32(max(best, 0))
}
