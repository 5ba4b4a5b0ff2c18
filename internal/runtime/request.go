package runtime

import (
	"errors"
	"fmt"
	"time"

	"github.com/raym33/ainative/internal/sample"
)

// Priority orders queued requests: lower values are admitted first.
type Priority int

const (
	// Interactive requests (a person waiting: the shell, a chat) go first.
	Interactive Priority = 0
	// Background requests (batch jobs, indexing) wait for interactive ones.
	Background Priority = 1
)

// Request is one generation: a prompt already rendered and tokenized, and
// how to continue it.
type Request struct {
	// Tokens is the whole prompt. A prefix already in the model's cache
	// (the previous turn of a chat, a shared system prompt) is not
	// computed again.
	Tokens []int32
	// MaxTokens caps the generated tokens; < 0 means until the context is
	// full.
	MaxTokens int
	// NumCtx caps prompt plus generated tokens; 0 means the runtime's
	// default. It cannot exceed the context the model was loaded with.
	NumCtx int
	// Sampling configures the sampler; its zero value is greedy.
	Sampling sample.Params
	// Stop ends the generation at the first of these strings, which is
	// not returned.
	Stop []string
	// Constraint, when set, masks the tokens that would break the
	// required output format (JSON, a JSON schema) before each draw.
	Constraint Constraint
	// Priority and Client order the queue: interactive before
	// background, and among equals the client with fewer running
	// sequences first.
	Priority Priority
	Client   string
	// KeepAlive is how long the model stays loaded after this request;
	// nil means the runtime's default, 0 unload at once, < 0 forever.
	KeepAlive *time.Duration
	// IgnoreEOS keeps generating past end-of-generation tokens (they
	// are never drawn), for benchmarks, as llama-server's ignore_eos.
	IgnoreEOS bool
	// Logprobs > 0 returns the log-probability of each chosen token and
	// of the Logprobs-1 most likely alternatives (at most 20).
	Logprobs int
}

// Constraint restricts the tokens a generation may produce. The runtime
// calls Allowed before each draw and Accept after it, from one goroutine.
type Constraint interface {
	// Mask sets the logits of the tokens that may not come next to
	// -Inf. budget is the number of tokens the generation may still
	// produce (< 0: unbounded), so that a constraint can steer towards
	// its shortest valid completion as the budget runs out.
	Mask(logits []float32, budget int)
	// Accept advances the constraint past token; an error means the
	// token was not allowed.
	Accept(token int32) error
	// Done reports whether the output is complete: generation stops.
	Done() bool
}

// Event is a piece of a generation's output, in order. The last event has
// Done set.
type Event struct {
	// Text is the next piece of decoded text (stop strings withheld).
	Text string
	// Tokens are the ids the text came from, with their log-probabilities
	// when asked.
	Tokens   []int32
	Logprobs []TokenLogprob
	// Done marks the last event, with the reason and the counts.
	Done   bool
	Reason StopReason
	Stats  Stats
	// Err is set on the last event when the generation failed.
	Err error
}

// TokenLogprob is a chosen token's log-probability and the most likely
// alternatives at its step.
type TokenLogprob struct {
	Token   int32
	Logprob float32
	Top     []TokenProb
}

// TokenProb is one candidate token and its log-probability.
type TokenProb struct {
	Token   int32
	Logprob float32
}

// StopReason says why a generation ended.
type StopReason string

const (
	// StopEnd: the model ended its turn, a stop string was met, or the
	// constraint was complete.
	StopEnd StopReason = "stop"
	// StopLength: MaxTokens or the context was reached.
	StopLength StopReason = "length"
	// StopCanceled: the caller went away.
	StopCanceled StopReason = "canceled"
	// StopError: the generation failed; Event.Err says why.
	StopError StopReason = "error"
)

// Stats are a finished generation's counts and timings.
type Stats struct {
	PromptTokens int // tokens of the prompt
	CachedTokens int // of those, taken from the cache instead of computed
	EvalTokens   int // tokens generated
	Queued       time.Duration
	PromptEval   time.Duration // from admission to the first token
	Eval         time.Duration // from the first token to the last
	Total        time.Duration
}

// Errors the API layer maps to HTTP statuses.
var (
	// ErrQueueFull: too many requests are waiting (503, retry later).
	ErrQueueFull = errors.New("runtime: the request queue is full")
	// ErrNotFound: no model by that name (404).
	ErrNotFound = errors.New("model not found")
	// ErrNoMemory: the model does not fit in the memory budget beside the
	// models in use (503).
	ErrNoMemory = errors.New("runtime: not enough memory")
	// ErrClosed: the runtime is shutting down (503).
	ErrClosed = errors.New("runtime: shutting down")
)

// PromptTooLongError is a prompt that does not fit in the context (400).
type PromptTooLongError struct {
	Tokens, Limit int
}

func (e *PromptTooLongError) Error() string {
	return fmt.Sprintf("the prompt is %d tokens, which does not fit in the context of %d tokens (raise num_ctx, up to the model's limit, or shorten the prompt)", e.Tokens, e.Limit)
}

// BadRequestError is a request the runtime refuses as invalid (400).
type BadRequestError struct{ Msg string }

func (e *BadRequestError) Error() string { return e.Msg }
