package api

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/raym33/ainative/internal/runtime"
	"github.com/raym33/ainative/internal/sample"
)

// genOptions are the generation options common to every endpoint, in
// Ollama's terms; the OpenAI endpoints fill them from their own fields.
type genOptions struct {
	NumCtx      int
	NumPredict  int // -1: until the context is full; -2: fill the context
	Sampling    sample.Params
	Stop        []string
	IgnoreEOS   bool
	Priority    runtime.Priority
	seedSet     bool
	Temperature float32
}

// defaultOptions are Ollama's defaults.
func defaultOptions() genOptions {
	return genOptions{
		NumPredict: -1,
		Sampling: sample.Params{
			Temperature: 0.8, TopK: 40, TopP: 0.9, MinP: 0, RepeatPenalty: 1.1, PenaltyLastN: 64,
		},
	}
}

// parseOllamaOptions reads Ollama's options object. Unknown keys are
// ignored, as Ollama ignores them; a known key with a value of the wrong
// type or out of range is an error naming it.
func parseOllamaOptions(raw map[string]any) (genOptions, error) {
	o := defaultOptions()
	noWindow := false
	for k, v := range raw {
		var err error
		switch k {
		case "num_ctx":
			o.NumCtx, err = intOpt(k, v, 0, 1<<24)
		case "num_predict":
			o.NumPredict, err = intOpt(k, v, -2, 1<<24)
		case "temperature":
			o.Sampling.Temperature, err = floatOpt(k, v, 0, 100)
		case "top_k":
			o.Sampling.TopK, err = intOpt(k, v, 0, 1<<24)
		case "top_p":
			o.Sampling.TopP, err = floatOpt(k, v, 0, 1)
		case "min_p":
			o.Sampling.MinP, err = floatOpt(k, v, 0, 1)
		case "repeat_penalty":
			o.Sampling.RepeatPenalty, err = floatOpt(k, v, 0, 100)
			if err == nil && o.Sampling.RepeatPenalty == 0 {
				err = fmt.Errorf("option %s: 0 is not allowed (must be positive; 1 turns the penalty off)", k)
			}
		case "repeat_last_n":
			o.Sampling.PenaltyLastN, err = intOpt(k, v, -1, 1<<24)
			noWindow = err == nil && o.Sampling.PenaltyLastN == 0
		case "presence_penalty":
			o.Sampling.PresencePenalty, err = floatOpt(k, v, -2, 2)
		case "frequency_penalty":
			o.Sampling.FrequencyPenalty, err = floatOpt(k, v, -2, 2)
		case "seed":
			var seed int
			seed, err = intOpt(k, v, math.MinInt32, math.MaxInt64)
			if err == nil && seed >= 0 {
				o.Sampling.Seed, o.seedSet = uint64(seed), true
			}
		case "stop":
			o.Stop, err = stopOpt(k, v)
		case "priority": // ainative's: "interactive" (default) or "background"
			o.Priority, err = priorityOpt(k, v)
		case "ignore_eos": // llama-server's option, for benchmarks
			b, ok := v.(bool)
			if !ok {
				err = fmt.Errorf("option %s: %s is not a boolean", k, jsonText(v))
			}
			o.IgnoreEOS = b
		}
		if err != nil {
			return o, err
		}
	}
	if noWindow {
		// Ollama's repeat_last_n 0: no penalty window, so no penalties.
		o.Sampling.PenaltyLastN = 64
		o.Sampling.RepeatPenalty, o.Sampling.FrequencyPenalty, o.Sampling.PresencePenalty = 1, 0, 0
	}
	return o, nil
}

func intOpt(k string, v any, lo, hi int) (int, error) {
	f, ok := v.(float64)
	if !ok {
		return 0, fmt.Errorf("option %s: %s is not a number", k, jsonText(v))
	}
	if f != math.Trunc(f) {
		return 0, fmt.Errorf("option %s: %v is not an integer", k, f)
	}
	if f < float64(lo) || f > float64(hi) {
		return 0, fmt.Errorf("option %s: %v is out of range [%d, %d]", k, f, lo, hi)
	}
	return int(f), nil
}

func floatOpt(k string, v any, lo, hi float64) (float32, error) {
	f, ok := v.(float64)
	if !ok {
		return 0, fmt.Errorf("option %s: %s is not a number", k, jsonText(v))
	}
	if f < lo || f > hi {
		return 0, fmt.Errorf("option %s: %v is out of range [%g, %g]", k, f, lo, hi)
	}
	return float32(f), nil
}

func stopOpt(k string, v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for i, s := range v {
			str, ok := s.(string)
			if !ok {
				return nil, fmt.Errorf("option %s[%d]: %s is not a string", k, i, jsonText(s))
			}
			if str != "" {
				out = append(out, str)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("option %s: %s is not a string or a list of strings", k, jsonText(v))
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 40 {
		b = append(b[:37], "..."...)
	}
	return string(b)
}

// request builds the runtime request for a prompt of tokens.
func (o *genOptions) request(tokens []int32, numCtx int) runtime.Request {
	p := o.Sampling
	if !o.seedSet {
		p.Seed = rand.Uint64()
	}
	max := o.NumPredict
	if max < 0 {
		max = -1 // -1 and -2: until the context is full
	}
	return runtime.Request{Tokens: tokens, MaxTokens: max, NumCtx: numCtx, Sampling: p, Stop: o.Stop, IgnoreEOS: o.IgnoreEOS, Priority: o.Priority}
}

// duration is Ollama's keep_alive: a Go duration string ("5m", "1h"), a
// number of seconds, or a negative value for forever.
type duration struct {
	d   time.Duration
	set bool
}

func (d *duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case nil:
		return nil
	case float64:
		if v < 0 {
			d.d = -1
		} else {
			d.d = time.Duration(v * float64(time.Second))
		}
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return nil
		}
		dd, err := time.ParseDuration(s)
		if err != nil {
			// A plain number of seconds as a string.
			var f float64
			if _, err2 := fmt.Sscanf(s, "%g", &f); err2 != nil {
				return fmt.Errorf("keep_alive: %q is not a duration (e.g. \"5m\", \"1h\", 0, -1)", v)
			}
			dd = time.Duration(f * float64(time.Second))
		}
		if dd < 0 {
			dd = -1
		}
		d.d = dd
	default:
		return fmt.Errorf("keep_alive: %s is not a duration", jsonText(v))
	}
	d.set = true
	return nil
}

func (d *duration) ptr() *time.Duration {
	if d == nil || !d.set {
		return nil
	}
	return &d.d
}

func priorityOpt(k string, v any) (runtime.Priority, error) {
	switch v {
	case "interactive":
		return runtime.Interactive, nil
	case "background":
		return runtime.Background, nil
	}
	return 0, fmt.Errorf("option %s: %s is not \"interactive\" or \"background\"", k, jsonText(v))
}

// serviceTier maps OpenAI's service_tier onto a priority: "flex" (cheaper,
// slower) waits behind interactive requests; the others are interactive.
func serviceTier(tier string) (runtime.Priority, error) {
	switch tier {
	case "", "auto", "default", "priority", "scale":
		return runtime.Interactive, nil
	case "flex":
		return runtime.Background, nil
	}
	return 0, badRequest("service_tier: %q is not auto, default, flex or priority", tier)
}
