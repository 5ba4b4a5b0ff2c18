package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/sample"
	"github.com/raym33/ainative/internal/tokenizer"
)

// runner is one loaded model and its scheduler.
type runner struct {
	rt       *Runtime
	name     string
	digest   string
	path     string
	fileSize int64
	file     *gguf.File
	model    *model.Model
	tok      *tokenizer.Tokenizer // nil for a model without a vocabulary
	cache    *model.Cache         // nil for a model that cannot generate (encoders)
	numCtx   int                  // most tokens of one sequence
	parallel int
	maxSeqs  int
	loadTime time.Duration

	// Guarded by rt.mu.
	refs     int
	lastUsed time.Time
	expires  time.Time

	mu      sync.Mutex // guards the fields below
	pending []*request // admitted by the scheduler in priority order
	active  int
	closed  bool
	wake    chan struct{} // 1-buffered: something to do

	cancel context.CancelFunc
	done   chan struct{}
}

// request is a generation waiting for or holding a slot.
type request struct {
	ctx      context.Context
	req      Request
	out      chan Event
	enqueued time.Time
}

func openRunner(rt *Runtime, res Resolved) (_ *runner, err error) {
	cfg := &rt.cfg
	st, err := os.Stat(res.Path)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", res.Name, err)
	}
	f, err := gguf.Open(res.Path)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", res.Name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	m, err := model.Load(f, model.Options{Threads: cfg.Threads, KVType: cfg.KVType, Repack: cfg.Repack})
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", res.Name, err)
	}
	r := &runner{
		rt: rt, name: res.Name, digest: res.Digest, path: res.Path, fileSize: st.Size(),
		file: f, model: m, parallel: cfg.NumParallel, maxSeqs: 2 * cfg.NumParallel,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if tok, err := tokenizer.FromGGUF(f); err == nil {
		r.tok = tok
	} else {
		m.Close()
		return nil, fmt.Errorf("model %s: %w", res.Name, err)
	}
	r.numCtx = min(cfg.NumCtx, m.ContextLength())
	cache, err := m.NewCache(model.CacheOptions{Cells: r.numCtx * r.parallel, MaxSeqs: r.maxSeqs})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("model %s: %w", res.Name, err)
	}
	r.cache = cache
	return r, nil
}

// memory is what the model holds: its mapped file, its repacked weights
// (Config.Repack) and its KV cache.
func (r *runner) memory() int64 {
	return r.fileSize + r.model.RepackedBytes() + r.model.KVBytesPerToken()*int64(r.numCtx*r.parallel)
}

func (r *runner) counts() (active, queued int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active, len(r.pending)
}

func (r *runner) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.rt.wg.Add(1)
	go func() {
		defer r.rt.wg.Done()
		defer close(r.done)
		s := newScheduler(r)
		s.loop(ctx)
	}()
}

// shutdown stops the scheduler (failing its requests) and unloads the
// model. Safe to call more than once.
func (r *runner) shutdown() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	pending := r.pending
	r.pending = nil
	r.mu.Unlock()
	for _, q := range pending {
		r.rt.dequeued()
		q.out <- Event{Done: true, Reason: StopError, Err: ErrClosed}
	}
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	r.model.Close()
	r.file.Close()
}

func (r *runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Tokenizer is the model's vocabulary.
func (m *Model) Tokenizer() *tokenizer.Tokenizer { return m.r.tok }

// File is the model's GGUF file (metadata, chat template).
func (m *Model) File() *gguf.File { return m.r.file }

// Engine is the loaded model itself, for embeddings.
func (m *Model) Engine() *model.Model { return m.r.model }

// Digest identifies the model's file.
func (m *Model) Digest() string { return m.r.digest }

// Name is the model's canonical name.
func (m *Model) Name() string { return m.r.name }

// NumCtx is the most tokens a sequence can hold.
func (m *Model) NumCtx() int { return m.r.numCtx }

// LoadDuration is how long loading the model took.
func (m *Model) LoadDuration() time.Duration { return m.r.loadTime }

// Generate queues a generation and returns its events: text pieces in
// order, then one event with Done set. The channel is closed after it.
// Cancelling ctx ends the generation at the next step. The caller must
// read until the channel is closed (or cancel ctx and then drain it).
func (m *Model) Generate(ctx context.Context, req Request) (<-chan Event, error) {
	r := m.r
	numCtx := r.numCtx
	if req.NumCtx > r.model.ContextLength() {
		return nil, &BadRequestError{fmt.Sprintf("num_ctx %d is beyond the context of model %s (%d tokens, with its RoPE scaling)", req.NumCtx, r.name, r.model.ContextLength())}
	}
	if req.NumCtx > 0 {
		// The cache was sized for the daemon's context: a request may
		// ask for less, and gets at most that.
		numCtx = min(req.NumCtx, r.numCtx)
	}
	if len(req.Tokens) == 0 {
		return nil, &BadRequestError{"the prompt is empty (no tokens)"}
	}
	if len(req.Tokens) >= numCtx {
		return nil, &PromptTooLongError{Tokens: len(req.Tokens), Limit: numCtx}
	}
	vocab := r.model.Config().Vocab
	for i, t := range req.Tokens {
		if t < 0 || int(t) >= vocab {
			return nil, &BadRequestError{fmt.Sprintf("token %d at index %d is outside the vocabulary (%d tokens)", t, i, vocab)}
		}
	}
	if req.Sampling == (sample.Params{}) {
		req.Sampling = sample.Greedy()
	}
	if err := req.Sampling.Validate(); err != nil {
		return nil, &BadRequestError{err.Error()}
	}
	req.NumCtx = numCtx
	req.Logprobs = min(max(req.Logprobs, 0), 20)
	if err := r.rt.enqueue(); err != nil {
		return nil, err
	}
	q := &request{ctx: ctx, req: req, out: make(chan Event, 64), enqueued: time.Now()}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.rt.dequeued()
		return nil, ErrClosed
	}
	r.pending = append(r.pending, q)
	r.mu.Unlock()
	r.rt.metrics.requests.Add(1)
	r.signal()
	return q.out, nil
}

func (rt *Runtime) enqueue() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return ErrClosed
	}
	if rt.queued >= rt.cfg.MaxQueue {
		rt.metrics.rejected.Add(1)
		return fmt.Errorf("%w (%d requests waiting)", ErrQueueFull, rt.queued)
	}
	rt.queued++
	rt.metrics.queued.Store(int64(rt.queued))
	return nil
}

func (rt *Runtime) dequeued() {
	rt.mu.Lock()
	rt.queued--
	rt.metrics.queued.Store(int64(rt.queued))
	rt.mu.Unlock()
}

// slot is a sequence being generated.
type slot struct {
	q       *request
	seq     model.SeqID
	pos     int     // tokens in the cache
	prompt  []int32 // prompt tokens not yet in the cache
	last    int32   // the token to feed next when decoding
	history []int32 // prompt and generated tokens, for penalties
	sampler *sample.Sampler
	dec     *tokenizer.Decoder
	stopper *sample.Stopper
	gen     int // tokens generated
	backlog []Event
	done    bool // finished; waiting for its backlog to drain

	admitted, first time.Time
	stats           Stats
}

// idleSeq is a finished sequence kept for its prefix.
type idleSeq struct {
	seq  model.SeqID
	used time.Time
}

type scheduler struct {
	r       *runner
	slots   []*slot
	idle    []idleSeq // least recently used first
	free    []model.SeqID
	batch   model.Batch
	owner   []*slot // the slot of each marked row of the batch
	logits  []float32
	scratch []float32
}

func newScheduler(r *runner) *scheduler {
	s := &scheduler{r: r}
	for id := r.maxSeqs - 1; id >= 0; id-- {
		s.free = append(s.free, model.SeqID(id))
	}
	return s
}

func (s *scheduler) loop(ctx context.Context) {
	defer s.failAll(ErrClosed)
	for {
		s.admit()
		s.flushBacklogs()
		s.reap()
		if len(s.slots) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-s.r.wake:
			}
			continue
		}
		if !s.step(ctx) {
			// Every slot is paused on a slow reader: wait for one to
			// read or for new work, without spinning.
			select {
			case <-ctx.Done():
				return
			case <-s.r.wake:
			case <-time.After(5 * time.Millisecond):
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// admit moves pending requests into free slots: interactive before
// background, then the client with the fewest running sequences, then
// first come.
func (s *scheduler) admit() {
	r := s.r
	for s.running() < r.parallel {
		r.mu.Lock()
		if len(r.pending) == 0 {
			r.mu.Unlock()
			return
		}
		best := 0
		for i, q := range r.pending[1:] {
			if s.before(q, r.pending[best]) {
				best = i + 1
			}
		}
		q := r.pending[best]
		r.pending = slices.Delete(r.pending, best, best+1)
		r.active++
		r.mu.Unlock()
		r.rt.dequeued()
		if err := q.ctx.Err(); err != nil {
			s.finishUnadmitted(q, StopCanceled, err)
			continue
		}
		if err := s.start(q); err != nil {
			s.finishUnadmitted(q, StopError, err)
		}
	}
}

func (s *scheduler) running() int {
	n := 0
	for _, sl := range s.slots {
		if !sl.done {
			n++
		}
	}
	return n
}

func (s *scheduler) before(a, b *request) bool {
	if a.req.Priority != b.req.Priority {
		return a.req.Priority < b.req.Priority
	}
	if ca, cb := s.clientLoad(a.req.Client), s.clientLoad(b.req.Client); ca != cb {
		return ca < cb
	}
	return a.enqueued.Before(b.enqueued)
}

func (s *scheduler) clientLoad(client string) int {
	n := 0
	for _, sl := range s.slots {
		if !sl.done && sl.q.req.Client == client {
			n++
		}
	}
	return n
}

func (s *scheduler) finishUnadmitted(q *request, reason StopReason, err error) {
	s.r.mu.Lock()
	s.r.active--
	s.r.mu.Unlock()
	q.out <- Event{Done: true, Reason: reason, Err: err}
	close(q.out)
}

// start gives q a sequence, reusing the longest cached prefix of its
// prompt.
func (s *scheduler) start(q *request) error {
	r := s.r
	req := &q.req
	sampler, err := sample.New(req.Sampling)
	if err != nil {
		return &BadRequestError{err.Error()}
	}
	sl := &slot{q: q, sampler: sampler, stopper: sample.NewStopper(req.Stop), admitted: time.Now(),
		history: append(make([]int32, 0, len(req.Tokens)+64), req.Tokens...)}
	if r.tok != nil {
		sl.dec = r.tok.NewDecoder()
	}
	sl.stats.PromptTokens = len(req.Tokens)
	sl.stats.Queued = sl.admitted.Sub(q.enqueued)

	// The last prompt token is always computed: its logits pick the
	// first generated token.
	from, n := r.cache.LongestPrefix(req.Tokens[:len(req.Tokens)-1])
	idle := slices.IndexFunc(s.idle, func(is idleSeq) bool { return is.seq == from })
	switch {
	case n > 0 && idle >= 0:
		// Take over the finished sequence: drop what follows the prefix.
		s.idle = slices.Delete(s.idle, idle, idle+1)
		if err := r.cache.Remove(from, n); err != nil {
			return err
		}
		sl.seq = from
	default:
		id, ok := s.newSeq()
		if !ok {
			return errors.New("runtime: no free sequence")
		}
		sl.seq = id
		if n > 0 {
			if err := r.cache.Fork(from, id, n); err != nil {
				return err
			}
		}
	}
	sl.pos = n
	sl.prompt = req.Tokens[n:]
	sl.stats.CachedTokens = n
	s.slots = append(s.slots, sl)
	return nil
}

// newSeq returns an unused sequence id, evicting the least recently used
// finished sequence when none is free.
func (s *scheduler) newSeq() (model.SeqID, bool) {
	if n := len(s.free); n > 0 {
		id := s.free[n-1]
		s.free = s.free[:n-1]
		return id, true
	}
	if !s.evictIdle() {
		return 0, false
	}
	return s.newSeq()
}

func (s *scheduler) evictIdle() bool {
	if len(s.idle) == 0 {
		return false
	}
	id := s.idle[0].seq
	s.idle = s.idle[1:]
	_ = s.r.cache.Remove(id, 0)
	s.free = append(s.free, id)
	return true
}

// step runs one forward pass over every slot that can make progress; it
// reports false when none could.
func (s *scheduler) step(ctx context.Context) bool {
	r := s.r
	b := &s.batch
	b.Tokens, b.Pos, b.Seq, b.Logits = b.Tokens[:0], b.Pos[:0], b.Seq[:0], b.Logits[:0]
	s.owner = s.owner[:0]
	add := func(sl *slot, tok int32, pos int, logits bool) {
		b.Tokens = append(b.Tokens, tok)
		b.Pos = append(b.Pos, int32(pos))
		b.Seq = append(b.Seq, sl.seq)
		b.Logits = append(b.Logits, logits)
		if logits {
			s.owner = append(s.owner, sl)
		}
	}
	budget := min(r.rt.cfg.StepTokens, r.model.BatchSize())
	// Decoding sequences first: one token each.
	for _, sl := range s.slots {
		if sl.done || len(sl.prompt) > 0 || len(sl.backlog) > 0 {
			continue
		}
		if sl.q.ctx.Err() != nil {
			continue
		}
		add(sl, sl.last, sl.pos, true)
		budget--
	}
	// Then a bounded chunk of the joining sequences' prompts.
	for _, sl := range s.slots {
		if sl.done || len(sl.prompt) == 0 || budget <= 0 || sl.q.ctx.Err() != nil {
			continue
		}
		n := min(len(sl.prompt), budget)
		for i := range n {
			add(sl, sl.prompt[i], sl.pos+i, i == len(sl.prompt)-1)
		}
		budget -= n
	}
	if len(b.Tokens) == 0 {
		return false
	}
	start := time.Now()
	logits, err := r.model.Decode(ctx, r.cache, b, s.logits[:0])
	s.logits = logits
	if err != nil {
		if ctx.Err() != nil {
			return true
		}
		if errors.Is(err, model.ErrCacheFull) && s.evictIdle() {
			return true // retry the same step with room made
		}
		// The pass failed for everyone in it (a fault on the mapping, a
		// full cache with nothing to evict): end those sequences.
		for _, sl := range s.batchSlots() {
			s.finish(sl, StopError, fmt.Errorf("model %s: %w", r.name, err))
		}
		return true
	}
	r.rt.metrics.observeStep(len(b.Tokens), time.Since(start))
	// Advance positions and prompts.
	for i := 0; i < len(b.Tokens); {
		sl := s.slotOf(b.Seq[i])
		j := i
		for j < len(b.Tokens) && b.Seq[j] == b.Seq[i] {
			j++
		}
		n := j - i
		if len(sl.prompt) > 0 {
			sl.prompt = sl.prompt[n:]
		}
		sl.pos += n
		i = j
	}
	vocab := r.model.Config().Vocab
	for k, sl := range s.owner {
		s.sample(sl, logits[k*vocab:(k+1)*vocab])
	}
	return true
}

func (s *scheduler) batchSlots() []*slot {
	var out []*slot
	for _, id := range s.batch.Seq {
		if sl := s.slotOf(id); sl != nil && !slices.Contains(out, sl) {
			out = append(out, sl)
		}
	}
	return out
}

func (s *scheduler) slotOf(id model.SeqID) *slot {
	for _, sl := range s.slots {
		if sl.seq == id && !sl.done {
			return sl
		}
	}
	return nil
}

// sample picks sl's next token from its logits and emits it.
func (s *scheduler) sample(sl *slot, logits []float32) {
	r := s.r
	req := &sl.q.req
	now := time.Now()
	if sl.first.IsZero() {
		sl.first = now
		sl.stats.PromptEval = now.Sub(sl.admitted)
		r.rt.metrics.ttft.observe(now.Sub(sl.q.enqueued).Seconds())
	}
	budget := -1
	if req.MaxTokens >= 0 {
		budget = req.MaxTokens - sl.gen
	}
	budget = minBudget(budget, req.NumCtx-sl.pos)
	if req.Constraint != nil {
		req.Constraint.Mask(logits, budget)
	}
	if req.IgnoreEOS && r.tok != nil {
		for _, id := range r.tok.EOGs() {
			logits[id] = float32(math.Inf(-1))
		}
	}
	var lp *TokenLogprob
	if req.Logprobs > 0 {
		s.scratch = logSoftmax(s.scratch[:0], logits)
	}
	tok, err := sl.sampler.Sample(logits, sl.history)
	if err != nil {
		// Non-finite logits: broken weights or metadata.
		s.finish(sl, StopError, fmt.Errorf("model %s after %d generated tokens: %w", r.name, sl.gen, err))
		return
	}
	if req.Logprobs > 0 {
		lp = &TokenLogprob{Token: tok, Logprob: s.scratch[tok], Top: topK(s.scratch, req.Logprobs)}
	}
	if req.Constraint != nil {
		if err := req.Constraint.Accept(tok); err != nil {
			s.finish(sl, StopError, err)
			return
		}
	}
	sl.history = append(sl.history, tok)
	sl.last = tok
	if r.tok != nil && r.tok.IsEOG(tok) {
		s.finish(sl, StopEnd, nil)
		return
	}
	sl.gen++
	sl.stats.EvalTokens = sl.gen
	r.rt.metrics.generated.Add(1)
	ev := Event{Tokens: []int32{tok}}
	if lp != nil {
		ev.Logprobs = []TokenLogprob{*lp}
	}
	stop := false
	if sl.dec != nil {
		ev.Text, stop = sl.stopper.Add(sl.dec.Add(tok))
	}
	s.emit(sl, ev)
	switch {
	case stop:
		s.finish(sl, StopEnd, nil)
	case req.Constraint != nil && req.Constraint.Done():
		s.finish(sl, StopEnd, nil)
	case req.MaxTokens >= 0 && sl.gen >= req.MaxTokens:
		s.finish(sl, StopLength, nil)
	case sl.pos+1 >= req.NumCtx:
		s.finish(sl, StopLength, nil)
	}
}

func minBudget(a, b int) int {
	if a < 0 {
		return b
	}
	return min(a, b)
}

// emit queues ev for sl's reader without ever blocking the scheduler: a
// reader that falls behind only pauses its own sequence.
func (s *scheduler) emit(sl *slot, ev Event) {
	if len(sl.backlog) == 0 {
		select {
		case sl.q.out <- ev:
			return
		default:
		}
	}
	sl.backlog = append(sl.backlog, ev)
}

// finish ends sl's generation: its last event is queued and its sequence
// is kept for later requests sharing its prefix.
func (s *scheduler) finish(sl *slot, reason StopReason, err error) {
	if sl.done {
		return
	}
	sl.done = true
	now := time.Now()
	if reason == StopEnd || reason == StopLength {
		var tail string
		if sl.dec != nil {
			t, _ := sl.stopper.Add(sl.dec.Flush())
			tail = t + sl.stopper.Flush()
		}
		if tail != "" {
			s.emit(sl, Event{Text: tail})
		}
	}
	if !sl.first.IsZero() {
		sl.stats.Eval = now.Sub(sl.first)
	}
	sl.stats.Total = now.Sub(sl.q.enqueued)
	s.r.rt.metrics.latency.observe(sl.stats.Total.Seconds())
	s.emit(sl, Event{Done: true, Reason: reason, Err: err, Stats: sl.stats})
	// The cache holds the prompt and the tokens fed back; the last
	// sampled token was never fed, so the cached prefix is exact.
	if err == nil || reason == StopCanceled {
		s.idle = append(s.idle, idleSeq{seq: sl.seq, used: now})
		for len(s.idle) > s.r.maxSeqs-s.r.parallel {
			s.evictIdle()
		}
	} else {
		_ = s.r.cache.Remove(sl.seq, 0)
		s.free = append(s.free, sl.seq)
	}
	s.r.mu.Lock()
	s.r.active--
	s.r.mu.Unlock()
}

// flushBacklogs hands queued events to readers that caught up.
func (s *scheduler) flushBacklogs() {
	for _, sl := range s.slots {
		for len(sl.backlog) > 0 {
			select {
			case sl.q.out <- sl.backlog[0]:
				sl.backlog = sl.backlog[1:]
				continue
			default:
			}
			break
		}
	}
}

// reap cancels slots whose caller went away and drops finished slots
// whose events were all delivered.
func (s *scheduler) reap() {
	s.slots = slices.DeleteFunc(s.slots, func(sl *slot) bool {
		if !sl.done && sl.q.ctx.Err() != nil {
			s.finish(sl, StopCanceled, sl.q.ctx.Err())
		}
		if sl.done && sl.q.ctx.Err() != nil {
			// Nobody reads any more: whatever is left is dropped.
			sl.backlog = nil
		}
		if sl.done && len(sl.backlog) == 0 {
			close(sl.q.out)
			return true
		}
		return false
	})
}

// failAll ends every slot when the scheduler stops.
func (s *scheduler) failAll(err error) {
	for _, sl := range s.slots {
		s.finish(sl, StopError, err)
		// Readers get the last event if they are still reading; the
		// channel has room for it after a drain, so do not block.
		for _, ev := range sl.backlog {
			select {
			case sl.q.out <- ev:
			default:
			}
		}
		close(sl.q.out)
	}
	s.slots = nil
}

// logSoftmax writes log(softmax(logits)) into dst.
func logSoftmax(dst, logits []float32) []float32 {
	mx := float32(math.Inf(-1))
	for _, x := range logits {
		mx = max(mx, x)
	}
	var sum float64
	for _, x := range logits {
		sum += math.Exp(float64(x - mx))
	}
	lse := float32(math.Log(sum)) + mx
	for _, x := range logits {
		dst = append(dst, x-lse)
	}
	return dst
}

// topK returns the k most likely tokens of the log-probabilities lp.
func topK(lp []float32, k int) []TokenProb {
	out := make([]TokenProb, 0, k+1)
	for i, x := range lp {
		if len(out) == k && x <= out[k-1].Logprob {
			continue
		}
		p := TokenProb{Token: int32(i), Logprob: x}
		j, _ := slices.BinarySearchFunc(out, p, func(a, b TokenProb) int {
			if a.Logprob > b.Logprob {
				return -1
			}
			if a.Logprob < b.Logprob {
				return 1
			}
			return 0
		})
		out = slices.Insert(out, j, p)
		if len(out) > k {
			out = out[:k]
		}
	}
	return out
}
