package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/raym33/ainative/internal/chat"
	"github.com/raym33/ainative/internal/grammar"
	"github.com/raym33/ainative/internal/runtime"
	"github.com/raym33/ainative/internal/tokenizer"
)

// modelExtras are what the API layer derives from a loaded model once: its
// compiled chat template and its vocabulary for constrained decoding.
type modelExtras struct {
	once     sync.Once
	tmpl     *chat.Template
	tmplErr  error
	vocabOne sync.Once
	vocab    *grammar.Vocab
	vocabErr error
}

var extras sync.Map // model name + file digest -> *modelExtras

func extrasOf(m *runtime.Model) *modelExtras {
	key := m.Name() + "\x00" + m.Digest()
	v, _ := extras.LoadOrStore(key, &modelExtras{})
	return v.(*modelExtras)
}

// templateOf returns the model's compiled chat template, compiled once.
func templateOf(m *runtime.Model) (*chat.Template, error) {
	x := extrasOf(m)
	x.once.Do(func() { x.tmpl, x.tmplErr = chat.FromGGUF(m.Name(), m.File(), "") })
	return x.tmpl, x.tmplErr
}

// renderChat renders a conversation with the model's template (or the
// named built-in one, "chatml", when asked), with the generation prompt.
func (s *Server) renderChat(m *runtime.Model, msgs []ollamaMessage, tools []json.RawMessage, think *bool, templateName string) (string, error) {
	var tmpl *chat.Template
	var err error
	if templateName != "" {
		if _, ok := chat.Builtin(templateName); !ok {
			return "", badRequest("template %q: only the built-in \"chatml\" can be named (Go-template overrides are not supported)", templateName)
		}
		tmpl, err = chat.FromGGUF(m.Name(), m.File(), templateName)
	} else {
		tmpl, err = templateOf(m)
	}
	if err != nil {
		return "", &requestError{http.StatusBadRequest, err.Error()}
	}
	if think != nil && *think && !tmpl.Capabilities().Thinking {
		return "", badRequest("model %q does not support thinking", m.Name())
	}
	if len(tools) > 0 && !tmpl.Capabilities().Tools {
		return "", badRequest("model %q does not support tools (its chat template shows none)", m.Name())
	}
	cm := make([]chat.Message, 0, len(msgs))
	for _, msg := range msgs {
		c := chat.Message{Role: msg.Role, Content: chat.Text(msg.Content), ToolCallID: msg.ToolCallID, Thinking: msg.Thinking}
		if msg.Role == "tool" {
			c.Name = msg.ToolName
		}
		if msg.Content == "" && len(msg.ToolCalls) > 0 {
			c.Content = nil // JSON null beside tool calls reaches the template as none
		}
		for _, tc := range msg.ToolCalls {
			args := tc.Function.Arguments
			if len(args) == 0 {
				args = json.RawMessage("{}")
			}
			c.ToolCalls = append(c.ToolCalls, chat.ToolCall{ID: tc.ID, Type: "function", Function: chat.FunctionCall{Name: tc.Function.Name, Arguments: args}})
		}
		cm = append(cm, c)
	}
	out, err := tmpl.Render(cm, tools, chat.RenderOptions{AddGenerationPrompt: true, EnableThinking: think})
	if err != nil {
		var te *chat.Error
		if errors.As(err, &te) && te.Raised {
			return "", badRequest("%v", err)
		}
		return "", &requestError{http.StatusInternalServerError, err.Error()}
	}
	return out, nil
}

// tokenize encodes a prompt, parsing special tokens (the template's
// markers). The BOS token is added when the vocabulary asks for it and
// the text does not already begin with it (templates often write it).
func (s *Server) tokenize(m *runtime.Model, text string, first bool) []int32 {
	tok := m.Tokenizer()
	ids := tok.Encode(text, false, true)
	if first && tok.AddBOS() {
		if bos, ok := tok.BOS(); ok && (len(ids) == 0 || ids[0] != bos) {
			ids = append([]int32{bos}, ids...)
		}
	}
	return ids
}

func tokenText(tok *tokenizer.Tokenizer, id int32) string {
	return string(tok.Piece(id))
}

// vocab returns the model's vocabulary for constrained decoding.
func (s *Server) vocab(m *runtime.Model) (*grammar.Vocab, error) {
	x := extrasOf(m)
	x.vocabOne.Do(func() { x.vocab, x.vocabErr = grammar.FromTokenizer(m.Tokenizer()) })
	return x.vocab, x.vocabErr
}

// constraint compiles Ollama's format (or an OpenAI response format
// mapped onto it): "json", a JSON schema, or nothing.
func (s *Server) constraint(m *runtime.Model, format json.RawMessage) (runtime.Constraint, error) {
	f := bytes.TrimSpace(format)
	if len(f) == 0 || string(f) == "null" || string(f) == `""` {
		return nil, nil
	}
	var g *grammar.Grammar
	var name string
	if json.Unmarshal(f, &name) == nil {
		if name != "json" {
			return nil, badRequest("format: %q is not \"json\" or a JSON schema", name)
		}
		g = grammar.JSONObject() // Ollama and OpenAI: a JSON object
	} else {
		var err error
		if g, err = grammar.CompileSchema(f); err != nil {
			return nil, badRequest("format: %v", err)
		}
	}
	return s.matcher(m, g)
}

func (s *Server) matcher(m *runtime.Model, g *grammar.Grammar) (runtime.Constraint, error) {
	v, err := s.vocab(m)
	if err != nil {
		return nil, &requestError{http.StatusInternalServerError, fmt.Sprintf("model %q: constrained decoding: %v", m.Name(), err)}
	}
	mt, err := g.NewMatcher(v)
	if err != nil {
		return nil, badRequest("format: %v", err)
	}
	return &constraint{m: mt, mask: make([]uint64, v.MaskWords())}, nil
}

// constraint adapts a grammar.Matcher to the runtime's Constraint.
type constraint struct {
	m    *grammar.Matcher
	mask []uint64
}

func (c *constraint) Mask(logits []float32, budget int) {
	if budget < 0 {
		budget = grammar.NoBudget
	}
	c.m.Mask(c.mask, budget)
	grammar.ApplyMask(logits, c.mask)
}

func (c *constraint) Accept(token int32) error { return c.m.Accept(token) }
func (c *constraint) Done() bool               { return c.m.Done() }

// forcedTool is a tool call the request requires (tool_choice "required"
// or a named function): the output is generated as one JSON object
// {"name": ..., "arguments": {...}} under a schema built from the tools,
// so it always parses and its arguments validate.
type forcedTool struct {
	tools []json.RawMessage
}

func (s *Server) toolConstraint(m *runtime.Model, f *forcedTool) (runtime.Constraint, error) {
	schema, err := f.schema()
	if err != nil {
		return nil, err
	}
	g, err := grammar.CompileSchema(schema)
	if err != nil {
		return nil, badRequest("tools: the parameters schema cannot be enforced: %v", err)
	}
	return s.matcher(m, g)
}

// schema is anyOf over the tools of {"name": const, "arguments": params}.
func (f *forcedTool) schema() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"anyOf":[`)
	for i, raw := range f.tools {
		var t openaiTool
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, badRequest("tools[%d]: %v", i, err)
		}
		params := t.Function.Parameters
		if len(bytes.TrimSpace(params)) == 0 || string(params) == "null" {
			params = json.RawMessage(`{"type":"object"}`)
		}
		name, _ := json.Marshal(t.Function.Name)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"object","properties":{"name":{"const":%s},"arguments":%s},"required":["name","arguments"],"additionalProperties":false}`, name, params)
	}
	b.WriteString(`]}`)
	return b.Bytes(), nil
}

// forcedCalls reads the call out of a forced tool call's output.
func forcedCalls(f *forcedTool, res result) []toolCall {
	var call struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal([]byte(res.content), &call); err != nil || call.Name == "" {
		return nil // truncated by max_tokens before the object closed
	}
	var compact bytes.Buffer
	if json.Compact(&compact, call.Arguments) == nil {
		call.Arguments = compact.Bytes()
	}
	return []toolCall{{Name: call.Name, Arguments: call.Arguments}}
}

// toolCall is a call parsed from the model's output.
type toolCall struct {
	ID        string
	Name      string
	Arguments json.RawMessage
}

// outputParser splits streamed output into content, thinking and tool
// calls, holding back text that may start a tool call.
type outputParser struct {
	st    *chat.Stream
	calls bool
}

func newOutputParser(m *runtime.Model, tools []json.RawMessage, think bool, prompt string) *outputParser {
	tmpl, err := templateOf(m)
	format := chat.ToolsNone
	thinking := false
	if err == nil {
		if len(tools) > 0 {
			format = tmpl.ToolFormat()
		}
		thinking = think && tmpl.Capabilities().Thinking
	}
	opens := thinking && chat.PromptOpensThinking(prompt)
	return &outputParser{st: chat.NewStream(format, thinking, opens), calls: format != chat.ToolsNone}
}

// next takes a generation event's text and returns what can be shown:
// content and thinking let out so far, and on the last event what was
// held back and the tool calls parsed from it.
func (p *outputParser) next(ev runtime.Event) (content, thinking string, calls []toolCall) {
	if ev.Text != "" {
		d := p.st.Push(ev.Text)
		content, thinking = d.Content, d.Thinking
	}
	if ev.Done {
		c, th, tc := p.finish()
		content, thinking, calls = content+c, thinking+th, tc
	}
	return content, thinking, calls
}

// finish ends the output and returns what was held back and the calls.
func (p *outputParser) finish() (content, thinking string, calls []toolCall) {
	d, parsed, err := p.st.Finish()
	content, thinking = d.Content, d.Thinking
	if err != nil {
		// A call marker whose payload does not parse: show the text as
		// the answer rather than lose it.
		return content, thinking, nil
	}
	for _, c := range parsed {
		calls = append(calls, toolCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments})
	}
	return content, thinking, calls
}
