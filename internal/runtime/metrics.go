package runtime

import (
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics are the runtime's counters, written in Prometheus' text format
// by WritePrometheus. The format is a few lines of text, so it is written
// here rather than through a client library and its dependencies.
type Metrics struct {
	requests   atomic.Int64 // generations queued
	rejected   atomic.Int64 // refused with ErrQueueFull
	queued     atomic.Int64 // waiting now
	generated  atomic.Int64 // tokens sampled
	stepTokens atomic.Int64 // tokens through forward passes (prompt and decode)
	steps      atomic.Int64
	stepNanos  atomic.Int64
	ttft       *histogram // seconds from queueing to the first token
	latency    *histogram // seconds from queueing to the last event
}

func newMetrics() *Metrics {
	buckets := []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}
	return &Metrics{ttft: newHistogram(buckets), latency: newHistogram(buckets)}
}

func (m *Metrics) observeStep(tokens int, d time.Duration) {
	m.steps.Add(1)
	m.stepTokens.Add(int64(tokens))
	m.stepNanos.Add(int64(d))
}

// Snapshot is a copy of the counters, for tests and status pages.
type Snapshot struct {
	Requests, Rejected, Queued, Generated, StepTokens, Steps int64
	StepTime                                                 time.Duration
}

// Snapshot returns the counters now.
func (m *Metrics) Snapshot() Snapshot {
	return Snapshot{
		Requests: m.requests.Load(), Rejected: m.rejected.Load(), Queued: m.queued.Load(),
		Generated: m.generated.Load(), StepTokens: m.stepTokens.Load(), Steps: m.steps.Load(),
		StepTime: time.Duration(m.stepNanos.Load()),
	}
}

// WritePrometheus writes the runtime's metrics, with the loaded models'
// gauges, in the Prometheus text exposition format.
func (rt *Runtime) WritePrometheus(w io.Writer) error {
	m := rt.metrics
	s := m.Snapshot()
	loaded := rt.Loaded()
	var active int
	for _, l := range loaded {
		active += l.Active
	}
	var err error
	p := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	p("# HELP ainative_requests_total Generation requests accepted into the queue.\n# TYPE ainative_requests_total counter\nainative_requests_total %d\n", s.Requests)
	p("# HELP ainative_requests_rejected_total Requests refused because the queue was full.\n# TYPE ainative_requests_rejected_total counter\nainative_requests_rejected_total %d\n", s.Rejected)
	p("# HELP ainative_queue_length Requests waiting for a sequence slot.\n# TYPE ainative_queue_length gauge\nainative_queue_length %d\n", s.Queued)
	p("# HELP ainative_active_sequences Sequences being generated.\n# TYPE ainative_active_sequences gauge\nainative_active_sequences %d\n", active)
	p("# HELP ainative_generated_tokens_total Tokens generated.\n# TYPE ainative_generated_tokens_total counter\nainative_generated_tokens_total %d\n", s.Generated)
	p("# HELP ainative_forward_tokens_total Tokens through forward passes, prompt and generated.\n# TYPE ainative_forward_tokens_total counter\nainative_forward_tokens_total %d\n", s.StepTokens)
	p("# HELP ainative_forward_seconds_total Time spent in forward passes.\n# TYPE ainative_forward_seconds_total counter\nainative_forward_seconds_total %g\n", s.StepTime.Seconds())
	p("# HELP ainative_loaded_models Models loaded.\n# TYPE ainative_loaded_models gauge\nainative_loaded_models %d\n", len(loaded))
	p("# HELP ainative_model_memory_bytes Memory a loaded model holds: mapped weights and KV cache.\n# TYPE ainative_model_memory_bytes gauge\n")
	for _, l := range loaded {
		p("ainative_model_memory_bytes{model=%q} %d\n", l.Name, l.Size)
	}
	p("# HELP ainative_memory_budget_bytes The memory budget for loaded models.\n# TYPE ainative_memory_budget_bytes gauge\nainative_memory_budget_bytes %d\n", rt.cfg.MemoryBudget)
	m.ttft.write(p, "ainative_time_to_first_token_seconds", "Seconds from queueing a request to its first token.")
	m.latency.write(p, "ainative_request_duration_seconds", "Seconds from queueing a request to its end.")
	return err
}

// histogram is a Prometheus histogram with fixed buckets.
type histogram struct {
	mu      sync.Mutex
	bounds  []float64
	counts  []uint64 // per bucket, not cumulative
	sum     float64
	samples uint64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	if math.IsNaN(v) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i]++
	h.sum += v
	h.samples++
}

func (h *histogram) write(p func(string, ...any), name, help string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p("# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		p("%s_bucket{le=\"%g\"} %d\n", name, b, cum)
	}
	cum += h.counts[len(h.bounds)]
	p("%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, cum, name, h.sum, name, h.samples)
}
