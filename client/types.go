package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Message is one turn of a chat.
type Message struct {
	Role      string     `json:"role"` // system, user, assistant or tool
	Content   string     `json:"content"`
	Thinking  string     `json:"thinking,omitempty"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	ToolName  string     `json:"tool_name,omitempty"`
}

// ToolCall is a function call the model asked for.
type ToolCall struct {
	ID       string `json:"id,omitempty"`
	Function struct {
		Index     int             `json:"index"`
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

// Options are generation options, in Ollama's names. Nil fields take the
// runtime's defaults.
type Options struct {
	NumCtx        *int     `json:"num_ctx,omitempty"`
	NumPredict    *int     `json:"num_predict,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopK          *int     `json:"top_k,omitempty"`
	TopP          *float64 `json:"top_p,omitempty"`
	MinP          *float64 `json:"min_p,omitempty"`
	Seed          *int     `json:"seed,omitempty"`
	RepeatPenalty *float64 `json:"repeat_penalty,omitempty"`
	Stop          []string `json:"stop,omitempty"`
	// IgnoreEOS generates past end-of-generation tokens (benchmarks).
	IgnoreEOS *bool `json:"ignore_eos,omitempty"`
}

// Metrics are a finished generation's counts and timings.
type Metrics struct {
	TotalDuration      time.Duration `json:"total_duration,omitempty"`
	LoadDuration       time.Duration `json:"load_duration,omitempty"`
	PromptEvalCount    int           `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration time.Duration `json:"prompt_eval_duration,omitempty"`
	EvalCount          int           `json:"eval_count,omitempty"`
	EvalDuration       time.Duration `json:"eval_duration,omitempty"`
}

// ChatRequest asks for the next assistant turn of a chat.
type ChatRequest struct {
	Model    string            `json:"model"`
	Messages []Message         `json:"messages"`
	Stream   *bool             `json:"stream,omitempty"`
	Format   json.RawMessage   `json:"format,omitempty"` // "json" or a JSON schema
	Tools    []json.RawMessage `json:"tools,omitempty"`
	Think    *bool             `json:"think,omitempty"`
	Options  *Options          `json:"options,omitempty"`
	// KeepAlive is a duration string ("5m") or seconds; nil: the default.
	KeepAlive any `json:"keep_alive,omitempty"`
}

// ChatResponse is a piece of the answer; the last one has Done set.
type ChatResponse struct {
	Model      string    `json:"model"`
	CreatedAt  time.Time `json:"created_at"`
	Message    Message   `json:"message"`
	Done       bool      `json:"done"`
	DoneReason string    `json:"done_reason,omitempty"`
	Metrics
}

// Chat streams the answer to fn, piece by piece (unless Stream is set to
// false, when fn gets it whole). Cancelling ctx stops the generation.
func (c *Client) Chat(ctx context.Context, req *ChatRequest, fn func(ChatResponse) error) error {
	return stream(ctx, c, "/api/chat", req, fn)
}

// GenerateRequest asks for a completion of a prompt.
type GenerateRequest struct {
	Model     string          `json:"model"`
	Prompt    string          `json:"prompt"`
	System    string          `json:"system,omitempty"`
	Raw       bool            `json:"raw,omitempty"`
	Stream    *bool           `json:"stream,omitempty"`
	Format    json.RawMessage `json:"format,omitempty"`
	Context   []int           `json:"context,omitempty"`
	Think     *bool           `json:"think,omitempty"`
	Options   *Options        `json:"options,omitempty"`
	KeepAlive any             `json:"keep_alive,omitempty"`
}

// GenerateResponse is a piece of the completion; the last has Done set.
type GenerateResponse struct {
	Model      string    `json:"model"`
	CreatedAt  time.Time `json:"created_at"`
	Response   string    `json:"response"`
	Thinking   string    `json:"thinking,omitempty"`
	Done       bool      `json:"done"`
	DoneReason string    `json:"done_reason,omitempty"`
	Context    []int     `json:"context,omitempty"`
	Metrics
}

// Generate streams a completion to fn.
func (c *Client) Generate(ctx context.Context, req *GenerateRequest, fn func(GenerateResponse) error) error {
	return stream(ctx, c, "/api/generate", req, fn)
}

// Embed returns one embedding per input.
func (c *Client) Embed(ctx context.Context, model string, inputs []string) ([][]float32, error) {
	var out struct {
		Embeddings [][]float32 `json:"embeddings"`
	}
	err := c.call(ctx, http.MethodPost, "/api/embed", map[string]any{"model": model, "input": inputs}, &out)
	return out.Embeddings, err
}

// ModelDetails describe a model's family and size.
type ModelDetails struct {
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

// ListedModel is a model in the store.
type ListedModel struct {
	Name       string       `json:"name"`
	Model      string       `json:"model"`
	ModifiedAt time.Time    `json:"modified_at"`
	Size       int64        `json:"size"`
	Digest     string       `json:"digest"`
	Details    ModelDetails `json:"details"`
}

// List returns the models in the runtime's store.
func (c *Client) List(ctx context.Context) ([]ListedModel, error) {
	var out struct {
		Models []ListedModel `json:"models"`
	}
	err := c.call(ctx, http.MethodGet, "/api/tags", nil, &out)
	return out.Models, err
}

// RunningModel is a loaded model.
type RunningModel struct {
	Name          string       `json:"name"`
	Model         string       `json:"model"`
	Size          int64        `json:"size"`
	Digest        string       `json:"digest"`
	Details       ModelDetails `json:"details"`
	ExpiresAt     time.Time    `json:"expires_at"`
	ContextLength int          `json:"context_length"`
}

// Ps returns the loaded models.
func (c *Client) Ps(ctx context.Context) ([]RunningModel, error) {
	var out struct {
		Models []RunningModel `json:"models"`
	}
	err := c.call(ctx, http.MethodGet, "/api/ps", nil, &out)
	return out.Models, err
}

// ShowResponse describes a model.
type ShowResponse struct {
	License      string         `json:"license,omitempty"`
	Parameters   string         `json:"parameters,omitempty"`
	Template     string         `json:"template,omitempty"`
	Details      ModelDetails   `json:"details"`
	ModelInfo    map[string]any `json:"model_info"`
	Capabilities []string       `json:"capabilities,omitempty"`
	ModifiedAt   time.Time      `json:"modified_at"`
}

// Show describes a model.
func (c *Client) Show(ctx context.Context, model string) (*ShowResponse, error) {
	var out ShowResponse
	if err := c.call(ctx, http.MethodPost, "/api/show", map[string]string{"model": model}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PullProgress is a step of a pull.
type PullProgress struct {
	Status    string `json:"status"`
	Digest    string `json:"digest,omitempty"`
	Total     int64  `json:"total,omitempty"`
	Completed int64  `json:"completed,omitempty"`
}

// Pull downloads a model into the runtime's store, reporting progress.
func (c *Client) Pull(ctx context.Context, model string, fn func(PullProgress) error) error {
	return stream(ctx, c, "/api/pull", map[string]any{"model": model}, fn)
}

// Delete removes a model from the store.
func (c *Client) Delete(ctx context.Context, model string) error {
	return c.call(ctx, http.MethodDelete, "/api/delete", map[string]string{"model": model}, nil)
}

// Copy gives a model a second name.
func (c *Client) Copy(ctx context.Context, src, dst string) error {
	return c.call(ctx, http.MethodPost, "/api/copy", map[string]string{"source": src, "destination": dst}, nil)
}

// Version returns the runtime's API version.
func (c *Client) Version(ctx context.Context) (string, error) {
	var out struct {
		Version string `json:"version"`
	}
	err := c.call(ctx, http.MethodGet, "/api/version", nil, &out)
	return out.Version, err
}

// Heartbeat checks that a runtime answers.
func (c *Client) Heartbeat(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/health", nil, nil)
}
