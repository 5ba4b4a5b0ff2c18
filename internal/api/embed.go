package api

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/runtime"
)

// maxEmbedInputs bounds the inputs of one embedding request.
const maxEmbedInputs = 2048

// embedInputs reads an input that is a string or an array of strings.
func embedInputs(raw json.RawMessage, field string) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badRequest("%s is required", field)
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, badRequest("%s: want a string or an array of strings", field)
	}
	if len(many) > maxEmbedInputs {
		return nil, badRequest("%s: %d inputs, more than the %d accepted at once", field, len(many), maxEmbedInputs)
	}
	return many, nil
}

// embed computes L2-normalized embeddings of texts, truncating each to
// the model's context when truncate is set (Ollama's default) and failing
// with a 400 naming the input otherwise.
func (s *Server) embed(ctx context.Context, m *runtime.Model, texts []string, truncate bool, dims int) ([][]float32, int, error) {
	eng := m.Engine()
	tok := m.Tokenizer()
	limit := eng.ContextLength()
	inputs := make([][]int32, len(texts))
	count := 0
	for i, t := range texts {
		ids := tok.Encode(t, true, false)
		if len(ids) == 0 {
			return nil, 0, badRequest("input %d: the text has no tokens", i)
		}
		if len(ids) > limit {
			if !truncate {
				return nil, 0, badRequest("input %d: %d tokens, more than the context of %d (set truncate to cut it)", i, len(ids), limit)
			}
			ids = ids[:limit]
		}
		inputs[i] = ids
		count += len(ids)
	}
	// A file that names no pooling (a chat model used as an embedder)
	// is mean-pooled: one vector per input, as /api/embed returns.
	pooling := model.PoolingModel
	if eng.Pooling() == model.PoolingNone {
		pooling = model.PoolingMean
	}
	out, err := eng.Embed(ctx, inputs, model.EmbedOptions{Pooling: pooling, Normalize: true})
	if err != nil {
		if errors.Is(err, model.ErrEmptyInput) || errors.Is(err, model.ErrContextFull) {
			return nil, 0, badRequest("%v", err)
		}
		return nil, 0, err
	}
	if dims > 0 {
		for i, v := range out {
			if dims < len(v) {
				v = v[:dims]
				l2(v)
				out[i] = v
			}
		}
	}
	return out, count, nil
}

func l2(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
}

// base64Floats encodes a vector as OpenAI's encoding_format "base64"
// does: little-endian float32s, base64.
func base64Floats(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (s *Server) ollamaEmbed(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model      string          `json:"model"`
		Input      json.RawMessage `json:"input"`
		Truncate   *bool           `json:"truncate"`
		Dimensions int             `json:"dimensions"`
		KeepAlive  *duration       `json:"keep_alive"`
		Options    map[string]any  `json:"options"`
	}
	if err := decodeForModel(r, &req, &req.Model, nil); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	texts, err := embedInputs(req.Input, "input")
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	if req.Dimensions < 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("dimensions: %d must not be negative", req.Dimensions))
		return
	}
	start := time.Now()
	m, err := s.acquire(r.Context(), req.Model)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	defer m.Release(req.KeepAlive.ptr())
	load := time.Since(start)
	out, n, err := s.embed(r.Context(), m, texts, req.Truncate == nil || *req.Truncate, req.Dimensions)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	if out == nil {
		out = [][]float32{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"model": req.Model, "embeddings": out,
		"total_duration": time.Since(start), "load_duration": load, "prompt_eval_count": n})
}

// ollamaEmbeddings is the older /api/embeddings: one prompt, a vector not
// normalized in Ollama (we return the same normalized vector).
func (s *Server) ollamaEmbeddings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model     string    `json:"model"`
		Prompt    string    `json:"prompt"`
		KeepAlive *duration `json:"keep_alive"`
	}
	if err := decodeForModel(r, &req, &req.Model, nil); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	m, err := s.acquire(r.Context(), req.Model)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	defer m.Release(req.KeepAlive.ptr())
	if req.Prompt == "" {
		writeJSON(w, http.StatusOK, map[string]any{"embedding": []float64{}})
		return
	}
	out, _, err := s.embed(r.Context(), m, []string{req.Prompt}, true, 0)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	vec := make([]float64, len(out[0]))
	for i, x := range out[0] {
		vec[i] = float64(x)
	}
	writeJSON(w, http.StatusOK, map[string]any{"embedding": vec})
}

func (s *Server) openaiEmbeddings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
		Dimensions     int             `json:"dimensions"`
		User           string          `json:"user"`
	}
	if err := decodeForModel(r, &req, &req.Model, nil); err != nil {
		openaiError(w, statusOf(err), err.Error())
		return
	}
	switch req.EncodingFormat {
	case "", "float":
	case "base64":
	default:
		openaiError(w, http.StatusBadRequest, fmt.Sprintf("encoding_format: %q is not float or base64", req.EncodingFormat))
		return
	}
	texts, err := embedInputs(req.Input, "input")
	if err != nil {
		openaiError(w, statusOf(err), err.Error())
		return
	}
	m, err := s.acquire(r.Context(), req.Model)
	if err != nil {
		openaiError(w, statusOf(err), err.Error())
		return
	}
	defer m.Release(nil)
	out, n, err := s.embed(r.Context(), m, texts, false, req.Dimensions)
	if err != nil {
		openaiError(w, statusOf(err), err.Error())
		return
	}
	data := make([]map[string]any, len(out))
	for i, v := range out {
		var emb any = v
		if req.EncodingFormat == "base64" {
			emb = base64Floats(v)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": n, "total_tokens": n}})
}
