// Package ask is the agent loop behind `ainative ask`: the model is given
// the bus tools its caller may use and must answer every turn with a tool
// call (tool_choice "required", so the runtime produces it under a
// grammar); each call is validated against the tool's schema and run
// through the bus, where the policy, consent and audit apply; the loop
// ends when the model calls final_answer or at the step limit.
package ask

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	busapi "github.com/raym33/ainative/client/bus"
)

// FinalAnswer is the tool the model calls to end the task.
const FinalAnswer = "final_answer"

// ErrStepLimit is returned when the model has not answered within the
// step limit.
var ErrStepLimit = errors.New("step limit reached without a final answer")

// Config configures a run.
type Config struct {
	Bus      *busapi.Client
	Runtime  string // the runtime: "http://host:port" or "unix:///path"
	Model    string
	MaxSteps int      // default 8
	Tools    []string // offer only these bus tools; empty: all the caller may use
	Out      io.Writer
	// Options passed to every completion, e.g. seed or max_tokens.
	Seed      *int64
	MaxTokens int // per step, default 256
}

type message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	ToolCalls  []toolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

type toolCall struct {
	ID       string `json:"id,omitempty"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// Step is one tool call the model made.
type Step struct {
	N         int
	Tool      string
	Arguments string
	Result    string
	Err       error
}

// Run runs the task and returns the final answer and the steps taken.
func Run(ctx context.Context, cfg Config, task string) (string, []Step, error) {
	if cfg.MaxSteps <= 0 {
		cfg.MaxSteps = 8
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 256
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	listed, err := cfg.Bus.ListTools(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("listing tools: %w", err)
	}
	schemas := map[string]*jsonschema.Schema{}
	var tools []json.RawMessage
	for _, t := range append(listed, &mcp.Tool{Name: FinalAnswer, Description: "Give the final answer to the task and stop.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}`)}) {
		if t.Name != FinalAnswer && len(cfg.Tools) > 0 && !slices.Contains(cfg.Tools, t.Name) {
			continue
		}
		raw, err := json.Marshal(t.InputSchema)
		if err != nil {
			return "", nil, err
		}
		sch, err := compile(t.Name, raw)
		if err != nil {
			return "", nil, err
		}
		schemas[t.Name] = sch
		def, _ := json.Marshal(map[string]any{"type": "function", "function": map[string]any{
			"name": t.Name, "description": t.Description, "parameters": json.RawMessage(raw)}})
		tools = append(tools, def)
	}
	msgs := []message{
		{Role: "system", Content: "You act on this machine only through the tools given. Call one tool per turn; call final_answer with the answer when the task is done."},
		{Role: "user", Content: task},
	}
	var steps []Step
	base, hc, err := httpClient(cfg.Runtime)
	if err != nil {
		return "", steps, fmt.Errorf("step 1: %w", err)
	}
	for n := 1; n <= cfg.MaxSteps; n++ {
		reply, err := complete(ctx, cfg, base, hc, msgs, tools)
		if err != nil {
			return "", steps, fmt.Errorf("step %d: %w", n, err)
		}
		if len(reply.ToolCalls) == 0 {
			return "", steps, fmt.Errorf("step %d: the model answered without a tool call", n)
		}
		call := reply.ToolCalls[0] // one call per turn
		if call.ID == "" {
			call.ID = fmt.Sprintf("call_%d", n)
		}
		reply.ToolCalls = []toolCall{call}
		reply.Content = ""
		msgs = append(msgs, reply)
		st := Step{N: n, Tool: call.Function.Name, Arguments: call.Function.Arguments}
		fmt.Fprintf(cfg.Out, "step %d: %s %s\n", n, st.Tool, st.Arguments)
		st.Result, st.Err = runCall(ctx, cfg, schemas, call)
		steps = append(steps, st)
		if st.Err == nil && st.Tool == FinalAnswer {
			fmt.Fprintf(cfg.Out, "answer: %s\n", st.Result)
			return st.Result, steps, nil
		}
		result := st.Result
		if st.Err != nil {
			result = "error: " + st.Err.Error()
			fmt.Fprintf(cfg.Out, "  -> %s\n", result)
		} else {
			fmt.Fprintf(cfg.Out, "  -> %s\n", abbreviate(result, 200))
		}
		msgs = append(msgs, message{Role: "tool", Content: abbreviate(result, 4000), ToolCallID: call.ID})
	}
	return "", steps, fmt.Errorf("%w (%d steps)", ErrStepLimit, cfg.MaxSteps)
}

// runCall validates a call against the offered tools and their schemas,
// then runs it on the bus (or returns the final answer).
func runCall(ctx context.Context, cfg Config, schemas map[string]*jsonschema.Schema, call toolCall) (string, error) {
	name := call.Function.Name
	sch, ok := schemas[name]
	if !ok {
		return "", fmt.Errorf("no tool %q was offered", name)
	}
	args := call.Function.Arguments
	if strings.TrimSpace(args) == "" {
		args = "{}"
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(args))
	if err != nil {
		return "", fmt.Errorf("arguments are not JSON: %v", err)
	}
	if err := sch.Validate(v); err != nil {
		return "", fmt.Errorf("arguments do not match the schema of %s: %v", name, err)
	}
	if name == FinalAnswer {
		var a struct {
			Answer string `json:"answer"`
		}
		json.Unmarshal([]byte(args), &a)
		return a.Answer, nil
	}
	return cfg.Bus.CallTool(ctx, name, json.RawMessage(args))
}

func compile(name string, raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("tool %q schema: %w", name, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("mem:///"+name, doc); err != nil {
		return nil, fmt.Errorf("tool %q schema: %w", name, err)
	}
	return c.Compile("mem:///" + name)
}

// complete asks the runtime's OpenAI-compatible endpoint for the next
// turn, forcing a tool call; base and hc are httpClient's for cfg.Runtime,
// made once per run so that its connections are reused across steps.
func complete(ctx context.Context, cfg Config, base string, hc *http.Client, msgs []message, tools []json.RawMessage) (message, error) {
	body, err := json.Marshal(map[string]any{"model": cfg.Model, "messages": msgs, "tools": tools,
		"tool_choice": "required", "max_tokens": cfg.MaxTokens, "seed": cfg.Seed})
	if err != nil {
		return message{}, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return message{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return message{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return message{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return message{}, fmt.Errorf("runtime: %s: %s", resp.Status, bytes.TrimSpace(raw))
	}
	var out struct {
		Choices []struct {
			Message message `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Choices) == 0 {
		return message{}, fmt.Errorf("runtime: unexpected answer %.200q", raw)
	}
	return out.Choices[0].Message, nil
}

func httpClient(addr string) (string, *http.Client, error) {
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}
		return "http://localhost", &http.Client{Transport: tr}, nil
	}
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		return strings.TrimSuffix(addr, "/"), http.DefaultClient, nil
	}
	if addr == "" {
		return "", nil, errors.New("no runtime address")
	}
	return "http://" + addr, http.DefaultClient, nil
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
