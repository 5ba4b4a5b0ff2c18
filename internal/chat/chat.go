// Package chat turns a conversation into the exact prompt text a model was
// trained on, by rendering the model's own Jinja chat template
// (tokenizer.chat_template) the way Hugging Face's apply_chat_template does,
// and parses what the model writes back: tool calls in each family's format
// and <think> sections.
//
// Rendering uses github.com/ardanlabs/jinja, a Jinja engine written for chat
// templates (Hugging Face's trim_blocks/lstrip_blocks whitespace rules,
// insertion-ordered dicts, namespace, loop variables, Python string methods).
// This package wraps it with what the engine lacks or does differently from
// transformers: jinja2's lexing of whitespace control (the engine trims the
// nearest text across expressions; see whitespace.go), a tojson that prints
// exactly what Python's json.dumps prints (key order as sent,
// ensure_ascii=False, indent), a strftime_now with a settable clock, JSON
// decoding that keeps the client's key order, probes that adapt the inputs
// to templates that need tool-call arguments as text or a "" content
// instead of none, a bounded range(), and a bound on macro recursion and
// bracket nesting (the engine recurses without limit, and a Go stack
// overflow kills the process).
//
// Known differences from jinja2 that remain in the engine (v1.8.0; none
// affects the templates under testdata/templates, which render byte for
// byte as transformers renders them): none prints as "" (Python: "None")
// and floats print in Go's short form ({{ 3.0 }} is "3"); str.split
// ignores maxsplit; rsplit, splitlines and the divisibleby test are
// missing; str.find counts bytes; wordcount splits on spaces only; a dict
// piped to list is not its keys; -x | f applies f before the minus; string
// literals know only the \n \t \\ \' \" escapes; and "str" + none
// concatenates instead of failing. Engine error messages give line numbers
// of the rewritten source. A render cannot be cancelled: templates are as
// trusted as the model file they come from.
package chat

import "encoding/json"

// Message is one turn of a conversation, in the shape the OpenAI and
// Hugging Face message objects have; the JSON tags are theirs.
type Message struct {
	Role string `json:"role"`
	// Content is nil for a JSON null (an assistant turn that only calls
	// tools); it reaches the template as none.
	Content *string `json:"content"`
	// Name is the optional author name (or the tool name of a tool result).
	Name string `json:"name,omitempty"`
	// ToolCalls are the calls an assistant turn made.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID links a tool result to the call it answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
	// Thinking is the reasoning of an assistant turn; templates read it as
	// message.reasoning_content (Qwen 3, DeepSeek).
	Thinking string `json:"reasoning_content,omitempty"`
}

// ToolCall is one function call made by the assistant.
type ToolCall struct {
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"` // "function" when empty
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and carries its arguments as JSON: an
// object, or (as OpenAI clients send it) a string holding an object.
type FunctionCall struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// Text returns a pointer to s, for Message.Content.
func Text(s string) *string { return &s }
