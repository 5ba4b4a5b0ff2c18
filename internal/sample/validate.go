package sample

import (
	"fmt"
	"math"
)

// FieldError reports one option out of its range. Every interface that
// takes the option (the command line, the HTTP APIs) checks it with the
// same function and shows the same rule; only the option's spelling
// differs: Error names the command-line flag, JSONError the JSON field.
type FieldError struct {
	Flag  string // command-line flag without dashes: "top-p"
	JSON  string // JSON field of the HTTP APIs: "top_p"
	Value any
	Rule  string // what a valid value is: "must be between 0 and 1"
}

// Error names the flag: `--top-p -1: must be between 0 and 1`.
func (e *FieldError) Error() string {
	dash := "--"
	if len(e.Flag) == 1 {
		dash = "-"
	}
	return fmt.Sprintf("%s%s %v: %s", dash, e.Flag, e.Value, e.Rule)
}

// JSONError names the JSON field: `top_p -1: must be between 0 and 1`.
func (e *FieldError) JSONError() string {
	return fmt.Sprintf("%s %v: %s", e.JSON, e.Value, e.Rule)
}

// Limits of the run options, far beyond any real use: they only keep a
// typo from becoming a huge allocation or thread count. Whether a context
// fits in memory is the model's to check.
const (
	MaxContext = 1 << 24 // tokens
	MaxThreads = 1 << 10
)

func finite(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }

// Validate reports the first parameter out of its range.
func (p *Params) Validate() error {
	bad := func(flag, json string, v any, rule string) error {
		return &FieldError{Flag: flag, JSON: json, Value: v, Rule: rule}
	}
	switch {
	case !finite(p.Temperature) || p.Temperature < 0:
		return bad("temp", "temperature", p.Temperature, "must be a number, 0 (greedy) or more")
	case p.TopK < 0:
		return bad("top-k", "top_k", p.TopK, "must be 0 (off) or more")
	case !(p.TopP >= 0 && p.TopP <= 1):
		return bad("top-p", "top_p", p.TopP, "must be between 0 and 1 (1: off)")
	case !(p.MinP >= 0 && p.MinP <= 1):
		return bad("min-p", "min_p", p.MinP, "must be between 0 (off) and 1")
	case !finite(p.RepeatPenalty) || p.RepeatPenalty <= 0:
		return bad("repeat-penalty", "repeat_penalty", p.RepeatPenalty, "must be a number greater than 0 (1: off)")
	case !finite(p.FrequencyPenalty):
		return bad("frequency-penalty", "frequency_penalty", p.FrequencyPenalty, "must be a finite number")
	case !finite(p.PresencePenalty):
		return bad("presence-penalty", "presence_penalty", p.PresencePenalty, "must be a finite number")
	case p.PenaltyLastN < -1:
		return bad("repeat-last-n", "repeat_last_n", p.PenaltyLastN, "must be -1 (all), 0 (64) or more")
	}
	return nil
}

// CheckMaxTokens checks a limit on the tokens to generate.
func CheckMaxTokens(n int) error {
	if n < -1 {
		return &FieldError{Flag: "n", JSON: "max_tokens", Value: n, Rule: "must be -1 (no limit), 0 or more"}
	}
	return nil
}

// CheckContext checks a context length cap (0: the model's).
func CheckContext(n int) error {
	if n < 0 || n > MaxContext {
		return &FieldError{Flag: "ctx", JSON: "n_ctx", Value: n, Rule: fmt.Sprintf("must be between 0 (the model's) and %d", MaxContext)}
	}
	return nil
}

// CheckThreads checks a thread count (0: the default).
func CheckThreads(n int) error {
	if n < 0 || n > MaxThreads {
		return &FieldError{Flag: "threads", JSON: "threads", Value: n, Rule: fmt.Sprintf("must be between 0 (the default) and %d", MaxThreads)}
	}
	return nil
}

// CheckAtLeast checks a count that has a minimum, such as a number of
// repetitions (at least 1) or of tokens (at least 0).
func CheckAtLeast(flag, json string, n, least int) error {
	if n < least {
		return &FieldError{Flag: flag, JSON: json, Value: n, Rule: fmt.Sprintf("must be %d or more", least)}
	}
	return nil
}
