package bus

import (
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	busapi "github.com/raym33/ainative/client/bus"
)

// Relevance by embeddings. With an embedding model configured, every
// context item gets a vector from the runtime (in the background after it
// is published, and before each relevance query for the items still
// waiting), and a relevance query ranks the caller's visible items by the
// cosine similarity of their vectors to the query's. Whenever the runtime
// cannot embed (it is down, the model is missing or is not local), the
// full-text index answers instead: queries never fail for it.
const (
	// maxVecScan bounds the items a relevance query compares, newest
	// first: older items beyond it are not ranked by embedding.
	maxVecScan = 10000
	// maxDims bounds a stored vector (float32s).
	maxDims = 16384
	// embedBatch is the number of texts sent to the runtime at once.
	embedBatch = 32
	// queryBackfill bounds the waiting items a relevance query embeds
	// before it ranks; the background worker does the rest.
	queryBackfill = 64
	// embedTimeout bounds one call to the runtime.
	embedTimeout = 30 * time.Second
)

// ErrUnembeddable marks an embedding failure caused by the text itself
// (the runtime answered 400), not by the runtime: such an item is stored
// without a vector and never retried.
var ErrUnembeddable = errors.New("the text cannot be embedded")

// EmbedFunc returns one embedding per text.
type EmbedFunc func(ctx context.Context, texts []string) ([][]float32, error)

// embedder keeps the stored vectors up to date and ranks by them.
type embedder struct {
	model string
	embed EmbedFunc
	store *store
	log   *slog.Logger
	mu    sync.Mutex    // one batch at a time
	down  atomic.Bool   // the last attempt failed (logged once per outage)
	kick  chan struct{} // a publish wakes the worker
}

func newEmbedder(model string, embed EmbedFunc, st *store, log *slog.Logger) *embedder {
	return &embedder{model: model, embed: embed, store: st, log: log, kick: make(chan struct{}, 1)}
}

// published wakes the worker without waiting for it.
func (e *embedder) published() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// note logs the first failure of an outage and the recovery after it.
func (e *embedder) note(err error) {
	if err != nil {
		if e.down.CompareAndSwap(false, true) {
			e.log.Warn("bus: embeddings unavailable; relevance queries use the full-text index until they return", "model", e.model, "err", err)
		}
		return
	}
	if e.down.CompareAndSwap(true, false) {
		e.log.Info("bus: embeddings available again", "model", e.model)
	}
}

// loop embeds waiting items after each publish and every minute (items
// published while the runtime was down) until ctx ends.
func (e *embedder) loop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		n, err := e.backfill(ctx, 1000)
		if ctx.Err() != nil {
			return
		}
		e.note(err)
		if err == nil && n == 1000 {
			continue // more are waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		case <-t.C:
		}
	}
}

// backfill embeds up to max live items that have no vector of the
// current model, newest first, and returns how many it stored.
func (e *embedder) backfill(ctx context.Context, max int) (int, error) {
	done := 0
	for done < max {
		n, err := e.batch(ctx, min(embedBatch, max-done))
		done += n
		if err != nil || n == 0 {
			return done, err
		}
	}
	return done, nil
}

// batch embeds up to n waiting items. The lock is held per batch, so a
// query waits for at most one batch of the background worker.
func (e *embedder) batch(ctx context.Context, n int) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids, texts, err := e.store.pending(ctx, e.model, time.Now(), n)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	vecs, err := e.call(ctx, texts)
	if errors.Is(err, ErrUnembeddable) {
		// One text spoils the batch: find it by embedding each alone.
		vecs = make([][]float32, len(texts))
		for i, t := range texts {
			v, err := e.call(ctx, []string{t})
			if err != nil && !errors.Is(err, ErrUnembeddable) {
				return 0, err
			}
			if err == nil {
				vecs[i] = v[0]
			}
		}
	} else if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := e.store.setVector(ctx, id, e.model, vecs[i]); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}

// call embeds texts within embedTimeout and checks the answer's shape.
func (e *embedder) call(ctx context.Context, texts []string) ([][]float32, error) {
	ctx, cancel := context.WithTimeout(ctx, embedTimeout)
	defer cancel()
	vecs, err := e.embed(ctx, texts)
	if err != nil {
		return nil, err
	}
	if len(vecs) != len(texts) {
		return nil, fmt.Errorf("embedding model %q returned %d vectors for %d texts", e.model, len(vecs), len(texts))
	}
	for _, v := range vecs {
		if len(v) == 0 || len(v) > maxDims {
			return nil, fmt.Errorf("embedding model %q returned a vector of %d dimensions (want 1 to %d)", e.model, len(v), maxDims)
		}
	}
	return vecs, nil
}

// rank returns up to limit items that visible admits, most similar to the
// query text first, among the newest maxVecScan items with a vector. ok
// is false when the runtime could not embed: the caller falls back to the
// full-text index.
func (e *embedder) rank(ctx context.Context, q busapi.QueryParams, now time.Time, visible func(*busapi.Item) bool) (items []busapi.Item, ok bool, err error) {
	if strings.TrimSpace(q.Text) == "" {
		return nil, false, nil
	}
	_, err = e.backfill(ctx, queryBackfill)
	var qv [][]float32
	if err == nil {
		qv, err = e.call(ctx, []string{q.Text})
	}
	if ctx.Err() != nil {
		return nil, false, ctx.Err()
	}
	e.note(err)
	if err != nil {
		return nil, false, nil
	}
	items, err = e.store.nearest(ctx, e.model, normalized(qv[0]), kindSetOf(q.Kinds), queryLimit(q.Limit), now, visible)
	return items, err == nil, err
}

// pending returns up to n live items without a vector of model.
func (s *store) pending(ctx context.Context, model string, now time.Time, n int) ([]int64, []string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, text FROM items WHERE (vec IS NULL OR vec_model IS NOT ?) AND expires > ? ORDER BY id DESC LIMIT ?`, model, now.UnixNano(), n)
	if err != nil {
		return nil, nil, fmt.Errorf("context store: %w", err)
	}
	defer rows.Close()
	var ids []int64
	var texts []string
	for rows.Next() {
		var id int64
		var text string
		if err := rows.Scan(&id, &text); err != nil {
			return nil, nil, fmt.Errorf("context store: %w", err)
		}
		ids, texts = append(ids, id), append(texts, text)
	}
	return ids, texts, rows.Err()
}

// setVector stores item id's vector from model, normalized; a nil vector
// records that the text cannot be embedded.
func (s *store) setVector(ctx context.Context, id int64, model string, v []float32) error {
	b := []byte{}
	if v != nil {
		b = encodeVector(normalized(v))
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE items SET vec = ?, vec_model = ? WHERE id = ?`, b, model, id); err != nil {
		return fmt.Errorf("storing the vector of context item %d: %w", id, err)
	}
	return nil
}

// nearest ranks by cosine similarity to the unit vector qv, keeping the
// best limit in a heap while it scans.
func (s *store) nearest(ctx context.Context, model string, qv []float32, kinds kindSet, limit int, now time.Time, visible func(*busapi.Item) bool) ([]busapi.Item, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+cols+`, vec FROM items WHERE vec_model = ? AND length(vec) = ? AND expires > ?
		ORDER BY created DESC, id DESC LIMIT ?`, model, 4*len(qv), now.UnixNano(), maxVecScan)
	if err != nil {
		return nil, fmt.Errorf("querying context: %w", err)
	}
	defer rows.Close()
	best := &scoredHeap{}
	for rows.Next() {
		var it busapi.Item
		var created, expires int64
		var vec []byte
		if err := rows.Scan(&it.ID, &it.Owner.UID, &it.Owner.GID, &it.Owner.PID, &it.Owner.Exe, &it.Kind, &it.Sensitivity, &it.Text, &created, &expires, &vec); err != nil {
			return nil, fmt.Errorf("querying context: %w", err)
		}
		if !kinds.admits(it.Kind) || !visible(&it) {
			continue
		}
		it.Created, it.Expires = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
		sc := dot(qv, vec)
		if best.Len() < limit {
			heap.Push(best, scored{it, sc})
		} else if sc > (*best)[0].score {
			(*best)[0] = scored{it, sc}
			heap.Fix(best, 0)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("querying context: %w", err)
	}
	items := make([]busapi.Item, best.Len())
	for i := len(items) - 1; i >= 0; i-- {
		items[i] = heap.Pop(best).(scored).item
	}
	return items, nil
}

type scored struct {
	item  busapi.Item
	score float64
}

// scoredHeap is a min-heap on score (ties: the older item is lower), so
// its root is the weakest of the best items kept.
type scoredHeap []scored

func (h scoredHeap) Len() int { return len(h) }
func (h scoredHeap) Less(i, j int) bool {
	if h[i].score != h[j].score {
		return h[i].score < h[j].score
	}
	return h[i].item.ID < h[j].item.ID
}
func (h scoredHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *scoredHeap) Push(x any)   { *h = append(*h, x.(scored)) }
func (h *scoredHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// normalized returns v scaled to unit length (a zero vector unchanged).
func normalized(v []float32) []float32 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	if ss == 0 || math.IsNaN(ss) || math.IsInf(ss, 0) {
		return out
	}
	inv := 1 / math.Sqrt(ss)
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out
}

func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// dot is the cosine similarity of the unit vector q and the stored unit
// vector b (len(b) == 4*len(q), checked by the query).
func dot(q []float32, b []byte) float64 {
	var s float64
	for i, x := range q {
		s += float64(x) * float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return s
}
