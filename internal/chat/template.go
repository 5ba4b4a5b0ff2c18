package chat

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"
)

//go:embed chatml.jinja
var chatMLTemplate string

// ChatML is the name of the built-in ChatML template, used only when a user
// asks for it by name (a model without a template gets an error instead:
// guessing a format silently degrades every answer).
const ChatML = "chatml"

// Builtin returns the source of a built-in template by name.
func Builtin(name string) (string, bool) {
	if name == ChatML {
		return chatMLTemplate, true
	}
	return "", false
}

// maxTemplateSize bounds the template source accepted from a model file.
const maxTemplateSize = 1 << 20

// Tokens are the texts of the model's special tokens that templates use
// (bos_token, eos_token): the GGUF's BOS and EOS token strings.
type Tokens struct {
	BOS, EOS string
}

// RenderOptions are the variables of one render besides the messages.
type RenderOptions struct {
	// AddGenerationPrompt ends the prompt with the header of the assistant
	// turn the model is to write.
	AddGenerationPrompt bool
	// EnableThinking, when set, passes enable_thinking to the template
	// (Qwen 3 and DeepSeek V3.1 switch their reasoning with it).
	EnableThinking *bool
	// Now is the time strftime_now reports; zero means the current time.
	Now time.Time
	// Extra are further template variables (chat_template_kwargs), as JSON.
	Extra map[string]json.RawMessage
}

// Capabilities say what a template can do, as Ollama's capabilities do.
type Capabilities struct {
	// Tools: the template shows tool definitions to the model.
	Tools bool
	// Thinking: the model writes <think> reasoning (the template mentions it,
	// reads reasoning_content, or renders differently with enable_thinking).
	Thinking bool
	// ThinkingToggle: enable_thinking changes the rendered prompt.
	ThinkingToggle bool
}

// Template is a model's chat template, compiled once and safe for
// concurrent renders.
type Template struct {
	model  string
	tmpl   *jinja.Template
	tokens Tokens
	caps   Capabilities
	format ToolFormat
	// stringArguments: the template concatenates tool-call arguments as text
	// (DeepSeek), so they are passed as JSON text instead of an object.
	stringArguments bool
	// nullContentAsEmpty: the template fails on a none content but renders
	// with "", so a null content is passed as "" (llama.cpp does the same).
	nullContentAsEmpty bool
}

// Error is a template that failed to compile or to render; it names the
// model so that a server can answer with it.
type Error struct {
	Model string
	// Raised is true when the template itself refused the conversation with
	// raise_exception (e.g. "System role not supported"): the request is at
	// fault, not the model.
	Raised bool
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("chat template of model %q: %v", e.Model, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// raisedError is what the template's raise_exception returns.
type raisedError struct{ msg string }

func (e *raisedError) Error() string { return e.msg }

// Compile parses a model's chat template. model names the model in errors.
// The template is probed once with a small tool-calling conversation to
// learn its capabilities and which input adaptations it needs.
func Compile(model, source string, tokens Tokens) (*Template, error) {
	if strings.TrimSpace(source) == "" {
		return nil, &Error{Model: model, Err: errors.New("the model has no chat template (use the built-in \"chatml\" template only if it fits the model)")}
	}
	if len(source) > maxTemplateSize {
		return nil, &Error{Model: model, Err: fmt.Errorf("template is %d bytes, more than the %d accepted", len(source), maxTemplateSize)}
	}
	src, err := jinjaSource(source)
	if err != nil {
		return nil, &Error{Model: model, Err: err}
	}
	tmpl, err := compileSafely(renameTojson(src))
	if err != nil {
		return nil, &Error{Model: model, Err: err}
	}
	t := &Template{model: model, tmpl: tmpl, tokens: tokens}
	t.probe(source)
	return t, nil
}

// compileSafely turns a panic inside the engine into an error: a template
// comes from a downloaded file and must never bring the server down.
func compileSafely(src string) (t *jinja.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("template engine failed: %v", r)
		}
	}()
	return jinja.Compile(src)
}

// Model is the name the template was compiled for.
func (t *Template) Model() string { return t.model }

// Capabilities reports what the template supports.
func (t *Template) Capabilities() Capabilities { return t.caps }

// ToolFormat is how the template's model writes tool calls.
func (t *Template) ToolFormat() ToolFormat { return t.format }

// TemplateCapabilities compiles source only to report what it supports.
func TemplateCapabilities(source string) (Capabilities, error) {
	t, err := Compile("", source, Tokens{})
	if err != nil {
		return Capabilities{}, err
	}
	return t.caps, nil
}

// Render renders the conversation into the prompt text. tools are the
// tool definitions as the client sent them (OpenAI's
// {"type":"function","function":{...}} objects); none or an empty list
// reach the template as none.
func (t *Template) Render(msgs []Message, tools []json.RawMessage, opts RenderOptions) (string, error) {
	vars, err := t.variables(msgs, tools, opts)
	if err != nil {
		return "", &Error{Model: t.model, Err: err}
	}
	out, err := renderSafely(t.tmpl, vars)
	if err != nil {
		var raised *raisedError
		return "", &Error{Model: t.model, Raised: errors.As(err, &raised), Err: err}
	}
	return out, nil
}

func renderSafely(t *jinja.Template, vars map[string]jinja.Value) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("template engine failed: %v", r)
		}
	}()
	return t.RenderValues(vars)
}

// variables builds the render context transformers passes: messages, tools,
// add_generation_prompt, the special tokens and the extra keyword
// arguments, plus the functions it installs.
func (t *Template) variables(msgs []Message, tools []json.RawMessage, opts RenderOptions) (map[string]jinja.Value, error) {
	vars := make(map[string]jinja.Value, 12+len(opts.Extra))
	for k, raw := range opts.Extra {
		v, err := jsonValue(raw)
		if err != nil {
			return nil, fmt.Errorf("template variable %q: %w", k, err)
		}
		vars[k] = v
	}
	list := make([]jinja.Value, 0, len(msgs))
	for i, m := range msgs {
		v, err := t.messageValue(m)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		list = append(list, v)
	}
	vars["messages"] = jinja.NewList(list)
	vars["tools"] = jinja.None()
	if len(tools) > 0 {
		tl := make([]jinja.Value, 0, len(tools))
		for i, raw := range tools {
			v, err := jsonValue(raw)
			if err != nil {
				return nil, fmt.Errorf("tool %d: %w", i, err)
			}
			if !v.IsDict() {
				return nil, fmt.Errorf("tool %d: not a JSON object", i)
			}
			tl = append(tl, v)
		}
		vars["tools"] = jinja.NewList(tl)
	}
	vars["documents"] = jinja.None()
	vars["add_generation_prompt"] = jinja.NewBool(opts.AddGenerationPrompt)
	if opts.EnableThinking != nil {
		vars["enable_thinking"] = jinja.NewBool(*opts.EnableThinking)
	}
	vars["bos_token"] = jinja.NewString(t.tokens.BOS)
	vars["eos_token"] = jinja.NewString(t.tokens.EOS)
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	vars["strftime_now"] = jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) != 1 || !args[0].IsString() {
			return jinja.Undefined(), errors.New("strftime_now takes one format string")
		}
		return jinja.NewString(strftime(args[0].AsString(), now)), nil
	})
	vars["raise_exception"] = jinja.NewCallable("raise_exception", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		msg := "raise_exception called"
		if len(args) > 0 && args[0].IsString() {
			msg = args[0].AsString()
		}
		return jinja.Undefined(), &raisedError{msg: msg}
	})
	vars[tojsonFilter] = jinja.NewCallable("tojson", tojson)
	vars["range"] = jinja.NewCallable("range", boundedRange)
	depth := 0
	vars[macroEnter] = jinja.NewCallable(macroEnter, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
		if depth++; depth > maxMacroDepth {
			return jinja.Undefined(), fmt.Errorf("macro calls nested deeper than %d (endless recursion?)", maxMacroDepth)
		}
		return jinja.NewString(""), nil
	})
	vars[macroLeave] = jinja.NewCallable(macroLeave, func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
		depth--
		return jinja.NewString(""), nil
	})
	return vars, nil
}

// maxRange bounds the list range() builds: the engine's own range
// allocates whatever a template asks for.
const maxRange = 1 << 16

// boundedRange is Python's range(stop), range(start, stop[, step]) as a
// list, refused beyond maxRange items.
func boundedRange(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	var n [3]int64
	for i, a := range args {
		if i >= 3 || !a.IsInt() {
			return jinja.Undefined(), errors.New("range takes one to three integers")
		}
		n[i] = a.AsInt()
	}
	start, stop, step := int64(0), n[0], int64(1)
	switch len(args) {
	case 0:
		return jinja.Undefined(), errors.New("range takes one to three integers")
	case 2, 3:
		start, stop = n[0], n[1]
		if len(args) == 3 {
			step = n[2]
		}
	}
	if step == 0 {
		return jinja.Undefined(), errors.New("range step must not be zero")
	}
	var count int64
	switch {
	case step > 0 && stop > start:
		count = (stop - start + step - 1) / step
	case step < 0 && stop < start:
		count = (start - stop - step - 1) / -step
	}
	if count > maxRange || count < 0 {
		return jinja.Undefined(), fmt.Errorf("range of more than %d items", maxRange)
	}
	items := make([]jinja.Value, count)
	for i := range items {
		items[i] = jinja.NewInt(start + int64(i)*step)
	}
	return jinja.NewList(items), nil
}

// tojson is transformers' tojson filter: json.dumps(x, ensure_ascii=False,
// indent=indent, separators=separators, sort_keys=sort_keys).
func tojson(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.Undefined(), errors.New("tojson: no value")
	}
	o := pyJSON{itemSep: ", ", keySep: ": "}
	indent, ok := kwargs["indent"]
	if !ok && len(args) > 1 {
		indent, ok = args[1], true
	}
	if ok && !indent.IsNone() {
		switch {
		case indent.IsInt():
			if indent.AsInt() < 0 || indent.AsInt() > 64 {
				return jinja.Undefined(), fmt.Errorf("tojson: indent %d out of range", indent.AsInt())
			}
			o.indent, o.hasIdent = strings.Repeat(" ", int(indent.AsInt())), true
		case indent.IsString():
			o.indent, o.hasIdent = indent.AsString(), true
		default:
			return jinja.Undefined(), errors.New("tojson: indent must be an integer or a string")
		}
		o.itemSep = ","
	}
	if seps, ok := kwargs["separators"]; ok && !seps.IsNone() {
		if !seps.IsList() || seps.AsList().Len() != 2 || !seps.AsList().Get(0).IsString() || !seps.AsList().Get(1).IsString() {
			return jinja.Undefined(), errors.New("tojson: separators must be two strings")
		}
		o.itemSep, o.keySep = seps.AsList().Get(0).AsString(), seps.AsList().Get(1).AsString()
	}
	if sk, ok := kwargs["sort_keys"]; ok {
		o.sortKeys = sk.IsTruthy()
	}
	s, err := o.dumps(args[0])
	if err != nil {
		return jinja.Undefined(), err
	}
	return jinja.NewString(s), nil
}

// messageValue turns a message into the dict a template sees, keys in the
// order role, content, name, tool_calls, tool_call_id, reasoning_content;
// optional ones only when set.
func (t *Template) messageValue(m Message) (jinja.Value, error) {
	d := jinja.NewDict()
	dd := d.AsDict()
	dd.Set("role", jinja.NewString(m.Role))
	switch {
	case m.Content != nil:
		dd.Set("content", jinja.NewString(*m.Content))
	case t.nullContentAsEmpty:
		dd.Set("content", jinja.NewString(""))
	default:
		dd.Set("content", jinja.None())
	}
	if m.Name != "" {
		dd.Set("name", jinja.NewString(m.Name))
	}
	if len(m.ToolCalls) > 0 {
		calls := make([]jinja.Value, 0, len(m.ToolCalls))
		for i, c := range m.ToolCalls {
			v, err := t.toolCallValue(c)
			if err != nil {
				return jinja.Undefined(), fmt.Errorf("tool call %d: %w", i, err)
			}
			calls = append(calls, v)
		}
		dd.Set("tool_calls", jinja.NewList(calls))
	}
	if m.ToolCallID != "" {
		dd.Set("tool_call_id", jinja.NewString(m.ToolCallID))
	}
	if m.Thinking != "" {
		dd.Set("reasoning_content", jinja.NewString(m.Thinking))
	}
	return d, nil
}

func (t *Template) toolCallValue(c ToolCall) (jinja.Value, error) {
	args, err := argumentsValue(c.Function.Arguments)
	if err != nil {
		return jinja.Undefined(), err
	}
	if t.stringArguments {
		s, err := pyJSON{itemSep: ", ", keySep: ": "}.dumps(args)
		if err != nil {
			return jinja.Undefined(), err
		}
		args = jinja.NewString(s)
	}
	typ := c.Type
	if typ == "" {
		typ = "function"
	}
	d := jinja.NewDict()
	if c.ID != "" {
		d.AsDict().Set("id", jinja.NewString(c.ID))
	}
	d.AsDict().Set("type", jinja.NewString(typ))
	d.AsDict().Set("function", dict("name", jinja.NewString(c.Function.Name), "arguments", args))
	return d, nil
}

// argumentsValue decodes tool-call arguments: an object as it is, a string
// holding JSON (OpenAI's form) as the value it holds, nothing as {}.
func argumentsValue(raw json.RawMessage) (jinja.Value, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return jinja.NewDict(), nil
	}
	v, err := jsonValue(raw)
	if err != nil {
		return jinja.Undefined(), fmt.Errorf("arguments: %w", err)
	}
	if v.IsString() {
		s := v.AsString()
		if strings.TrimSpace(s) == "" {
			return jinja.NewDict(), nil
		}
		inner, err := jsonValue([]byte(s))
		if err != nil {
			return jinja.Undefined(), fmt.Errorf("arguments: the string does not hold JSON: %w", err)
		}
		return inner, nil
	}
	return v, nil
}
