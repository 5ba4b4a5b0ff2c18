// Package runtime is the AI runtime's core, without HTTP: it loads models
// on demand, shares each loaded model between every request, and decodes
// concurrent requests to one model together (continuous batching).
//
// A Runtime resolves model names through a Source (the model store),
// memory-maps each model once and keeps it while it is used or within its
// keep-alive, unloading idle models least recently used first when a new
// one would not fit in the memory budget. Each loaded model has one
// scheduler goroutine that owns its KV cache: every step it admits queued
// requests into free sequence slots (reusing the longest cached prefix of
// their prompt), builds one batch of the decoding sequences' next tokens
// and a bounded chunk of the joining sequences' prompts, runs one forward
// pass and samples every sequence's next token. Requests leave when they
// finish or their context is cancelled; a slow reader only pauses its own
// sequence.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/raym33/ainative/internal/hw"
	"github.com/raym33/ainative/internal/tensor"
)

// Source resolves a model name to its file.
type Source interface {
	// Resolve returns the model's GGUF file, or an error wrapping
	// ErrNotFound. It may take a while (a store may verify the file).
	Resolve(ctx context.Context, name string) (Resolved, error)
}

// Resolved is a model's file and identity.
type Resolved struct {
	Name   string // canonical name
	Path   string // the GGUF file (the first part of a split model)
	Digest string // sha256 of the file, "sha256:..."
	Size   int64
}

// Config configures a Runtime. The zero value of each field picks the
// documented default.
type Config struct {
	Source Source
	// Threads for each model's forward pass; 0: hw.DefaultThreads().
	Threads int
	// NumParallel is the number of sequences a loaded model decodes at
	// once; 0: 8 (OLLAMA_NUM_PARALLEL).
	NumParallel int
	// MaxQueue bounds the requests waiting for a slot, over all models;
	// 0: 64 (OLLAMA_MAX_QUEUE). A request beyond it gets ErrQueueFull.
	MaxQueue int
	// NumCtx is the default context of a sequence; 0: 4096, capped at
	// the model's trained context.
	NumCtx int
	// KVType is the KV cache's element type; 0 (F32) is replaced by F16.
	KVType tensor.Type
	// MemoryBudget bounds the memory of loaded models (mapped weights and
	// KV caches); 0: 90% of the memory available now (cgroup limit
	// included).
	MemoryBudget int64
	// KeepAlive is how long an idle model stays loaded; 0: 5 minutes.
	// Negative: forever.
	KeepAlive time.Duration
	// StepTokens bounds the tokens of one forward pass, so that a long
	// prompt joining the batch delays the others' next token by at most
	// one such pass; 0: 256.
	StepTokens int
	// Repack makes each loaded model keep an interleaved copy of its
	// Q8_0/Q4_0/Q5_0/IQ4_NL weights (model.Options.Repack): faster
	// prompts and batches of sequences, for about the weights' memory
	// again, which the memory budget counts.
	Repack bool
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Threads <= 0 {
		c.Threads = hw.DefaultThreads()
	}
	if c.NumParallel <= 0 {
		c.NumParallel = 8
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = 64
	}
	if c.NumCtx <= 0 {
		c.NumCtx = 4096
	}
	if c.KVType == tensor.F32 {
		c.KVType = tensor.F16
	}
	if c.MemoryBudget <= 0 {
		if info, err := hw.Discover(context.Background()); err == nil && info.EffectiveMemory() > 0 {
			c.MemoryBudget = info.EffectiveMemory() / 10 * 9
		} else {
			c.MemoryBudget = 4 << 30
		}
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 5 * time.Minute
	}
	if c.StepTokens <= 0 {
		c.StepTokens = 256
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Runtime serves generations from the models its Source resolves. Its
// methods are safe for concurrent use.
type Runtime struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics

	mu      sync.Mutex
	closed  bool
	runners map[string]*runner // by canonical name
	loading map[string]*loadCall
	queued  int // requests waiting for a slot, over all runners

	stop chan struct{}
	wg   sync.WaitGroup
}

type loadCall struct {
	done chan struct{}
	r    *runner
	err  error
}

// New returns a running Runtime. Close it to unload every model.
func New(cfg Config) (*Runtime, error) {
	if cfg.Source == nil {
		return nil, errors.New("runtime: Config.Source is required")
	}
	cfg.defaults()
	rt := &Runtime{
		cfg:     cfg,
		log:     cfg.Logger,
		metrics: newMetrics(),
		runners: map[string]*runner{},
		loading: map[string]*loadCall{},
		stop:    make(chan struct{}),
	}
	rt.wg.Add(1)
	go rt.janitor()
	return rt, nil
}

// Config returns the configuration with defaults filled in.
func (rt *Runtime) Config() Config { return rt.cfg }

// Metrics returns the runtime's counters and histograms.
func (rt *Runtime) Metrics() *Metrics { return rt.metrics }

// Close cancels every request, unloads every model and waits for the
// schedulers to stop.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil
	}
	rt.closed = true
	runners := make([]*runner, 0, len(rt.runners))
	for _, r := range rt.runners {
		runners = append(runners, r)
	}
	rt.runners = map[string]*runner{}
	rt.mu.Unlock()
	close(rt.stop)
	for _, r := range runners {
		r.shutdown()
	}
	rt.wg.Wait()
	return nil
}

// Model is a loaded model held for the caller: it stays loaded until
// Release. Its methods are safe for concurrent use.
type Model struct {
	r        *runner
	released sync.Once
}

// Acquire loads the model name if needed and holds it for the caller.
func (rt *Runtime) Acquire(ctx context.Context, name string) (*Model, error) {
	for {
		res, err := rt.cfg.Source.Resolve(ctx, name)
		if err != nil {
			return nil, err
		}
		rt.mu.Lock()
		if rt.closed {
			rt.mu.Unlock()
			return nil, ErrClosed
		}
		if r := rt.runners[res.Name]; r != nil && r.digest == res.Digest {
			r.refs++
			r.lastUsed = time.Now()
			rt.mu.Unlock()
			return &Model{r: r}, nil
		} else if r != nil {
			// The name now points at another file (re-pulled, copied
			// over): serve the new one once the old one is idle.
			if r.refs == 0 {
				rt.unloadLocked(r, "replaced")
			}
		}
		call := rt.loading[res.Name]
		if call == nil {
			call = &loadCall{done: make(chan struct{})}
			rt.loading[res.Name] = call
			rt.mu.Unlock()
			call.r, call.err = rt.load(res)
			rt.mu.Lock()
			delete(rt.loading, res.Name)
			if call.err == nil {
				if rt.closed {
					call.r.shutdown()
					call.err = ErrClosed
				} else {
					rt.runners[res.Name] = call.r
				}
			}
			close(call.done)
			rt.mu.Unlock()
		} else {
			rt.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if call.err != nil {
			return nil, call.err
		}
		// Loop to take a reference under the lock (the model may have
		// been unloaded in between, in which case it loads again).
	}
}

// load maps and loads a model, first unloading idle models until it fits
// in the budget.
func (rt *Runtime) load(res Resolved) (*runner, error) {
	start := time.Now()
	r, err := openRunner(rt, res)
	if err != nil {
		return nil, err
	}
	need := r.memory()
	rt.mu.Lock()
	for rt.usedLocked()+need > rt.cfg.MemoryBudget {
		victim := rt.lruIdleLocked()
		if victim == nil {
			used := rt.usedLocked()
			rt.mu.Unlock()
			r.shutdown()
			return nil, fmt.Errorf("%w: model %s needs %s, %s of the %s budget is held by models in use",
				ErrNoMemory, res.Name, fmtBytes(need), fmtBytes(used), fmtBytes(rt.cfg.MemoryBudget))
		}
		rt.unloadLocked(victim, "memory budget")
	}
	rt.mu.Unlock()
	r.loadTime = time.Since(start)
	rt.log.Info("model loaded", "model", res.Name, "file", res.Path, "memory", fmtBytes(need),
		"context", r.numCtx, "parallel", r.parallel, "load", r.loadTime.Round(time.Millisecond))
	r.start()
	return r, nil
}

func (rt *Runtime) usedLocked() int64 {
	var n int64
	for _, r := range rt.runners {
		n += r.memory()
	}
	return n
}

func (rt *Runtime) lruIdleLocked() *runner {
	var victim *runner
	for _, r := range rt.runners {
		if r.refs == 0 && (victim == nil || r.lastUsed.Before(victim.lastUsed)) {
			victim = r
		}
	}
	return victim
}

func (rt *Runtime) unloadLocked(r *runner, why string) {
	if rt.runners[r.name] == r {
		delete(rt.runners, r.name)
	}
	rt.log.Info("model unloaded", "model", r.name, "reason", why)
	go r.shutdown()
}

// Unload unloads the model name now if no request holds it; it reports
// whether a model was unloaded.
func (rt *Runtime) Unload(name string) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for key, r := range rt.runners {
		if key == name || r.name == name {
			if r.refs == 0 {
				rt.unloadLocked(r, "requested")
				return true
			}
			r.expires = time.Now() // unload once idle
		}
	}
	return false
}

// janitor unloads models whose keep-alive has passed.
func (rt *Runtime) janitor() {
	defer rt.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-rt.stop:
			return
		case now := <-t.C:
			rt.mu.Lock()
			for _, r := range rt.runners {
				if r.refs == 0 && !r.expires.IsZero() && now.After(r.expires) {
					rt.unloadLocked(r, "keep_alive expired")
				}
			}
			rt.mu.Unlock()
		}
	}
}

// Release gives the model back; it may be unloaded after its keep-alive.
// keepAlive nil means the runtime's default.
func (m *Model) Release(keepAlive *time.Duration) {
	m.released.Do(func() {
		rt := m.r.rt
		rt.mu.Lock()
		defer rt.mu.Unlock()
		r := m.r
		r.refs--
		r.lastUsed = time.Now()
		if rt.runners[r.name] != r {
			// Replaced by a newer file of the same name (or unloaded)
			// while held: the last holder shuts it down.
			if r.refs == 0 {
				go r.shutdown()
			}
			return
		}
		ka := rt.cfg.KeepAlive
		if keepAlive != nil {
			ka = *keepAlive
		}
		switch {
		case ka < 0:
			r.expires = time.Time{}
		case ka == 0:
			r.expires = r.lastUsed
			if r.refs == 0 {
				rt.unloadLocked(r, "keep_alive 0")
			}
		default:
			r.expires = r.lastUsed.Add(ka)
		}
	})
}

// Loaded describes a loaded model, for /api/ps.
type Loaded struct {
	Name      string
	Digest    string
	Size      int64 // memory: weights and KV cache
	Context   int
	Parallel  int
	Active    int // running sequences
	Queued    int
	ExpiresAt time.Time // zero while in use or kept forever
}

// Loaded lists the loaded models, most recently used first.
func (rt *Runtime) Loaded() []Loaded {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	runners := make([]*runner, 0, len(rt.runners))
	for _, r := range rt.runners {
		runners = append(runners, r)
	}
	slices.SortFunc(runners, func(a, b *runner) int { return b.lastUsed.Compare(a.lastUsed) })
	var out []Loaded
	for _, r := range runners {
		active, queued := r.counts()
		l := Loaded{Name: r.name, Digest: r.digest, Size: r.memory(), Context: r.numCtx,
			Parallel: r.parallel, Active: active, Queued: queued}
		if r.refs == 0 {
			l.ExpiresAt = r.expires
		}
		out = append(out, l)
	}
	return out
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
