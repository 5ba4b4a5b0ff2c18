package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ToolFormat is the way a model family writes tool calls in its output.
type ToolFormat int

const (
	// ToolsNone: the template shows no tools; output is never parsed.
	ToolsNone ToolFormat = iota
	// ToolsJSON: no dedicated markers (Gemma, Phi-3 and other templates
	// that only describe tools in text): the whole answer is one JSON
	// object {"name": ..., "arguments"|"parameters": {...}} or an array of
	// them, optionally in a ```json fence.
	ToolsJSON
	// ToolsLlama3: Llama 3.1/3.2/3.3: {"name": ..., "parameters": {...}},
	// optionally after <|python_tag|>, several separated by ';'.
	ToolsLlama3
	// ToolsHermes: Qwen 2.5/3, Hermes: <tool_call>{"name": ..., "arguments": ...}</tool_call>.
	ToolsHermes
	// ToolsMistral: [TOOL_CALLS] [{"name": ..., "arguments": ..., "id": ...}, ...]
	// or, in newer Mistral models, [TOOL_CALLS]name[ARGS]{...}.
	ToolsMistral
	// ToolsDeepSeek: <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>...<｜tool▁call▁end｜>...,
	// in the R1 form (function<｜tool▁sep｜>name\n```json\n{...}\n```) or
	// the V3.1 form (name<｜tool▁sep｜>{...}).
	ToolsDeepSeek
	// ToolsPhi4: Phi-4-mini: <|tool_call|>[{"name": ..., "arguments": ...}]<|/tool_call|>.
	ToolsPhi4
)

var toolFormatNames = [...]string{"none", "json", "llama3", "hermes", "mistral", "deepseek", "phi4"}

func (f ToolFormat) String() string {
	if int(f) < len(toolFormatNames) {
		return toolFormatNames[f]
	}
	return fmt.Sprintf("ToolFormat(%d)", int(f))
}

// Markers of each format.
const (
	hermesOpen      = "<tool_call>"
	hermesClose     = "</tool_call>"
	mistralCalls    = "[TOOL_CALLS]"
	mistralArgs     = "[ARGS]"
	mistralCallID   = "[CALL_ID]"
	llamaPythonTag  = "<|python_tag|>"
	dsCallsBegin    = "<｜tool▁calls▁begin｜>"
	dsCallsEnd      = "<｜tool▁calls▁end｜>"
	dsCallBegin     = "<｜tool▁call▁begin｜>"
	dsCallEnd       = "<｜tool▁call▁end｜>"
	dsSep           = "<｜tool▁sep｜>"
	phi4Open        = "<|tool_call|>"
	phi4Close       = "<|/tool_call|>"
	maxToolCalls    = 256
	maxToolCallText = 1 << 20
)

// DetectToolFormat tells from a template's source how its model writes tool
// calls. hasTools is whether the template shows tools at all.
func DetectToolFormat(source string, hasTools bool) ToolFormat {
	switch {
	case strings.Contains(source, "tool▁call▁begin"):
		return ToolsDeepSeek
	case strings.Contains(source, mistralCalls):
		return ToolsMistral
	case strings.Contains(source, hermesOpen):
		return ToolsHermes
	case strings.Contains(source, phi4Open):
		return ToolsPhi4
	case strings.Contains(source, "<|start_header_id|>") && strings.Contains(source, `"parameters"`):
		return ToolsLlama3
	case hasTools:
		return ToolsJSON
	}
	return ToolsNone
}

// ParsedCall is a tool call read back from model output.
type ParsedCall struct {
	ID        string          // the model's own ID, when its format has one (Mistral)
	Name      string          //
	Arguments json.RawMessage // a JSON object, compact
}

// ErrNoToolCall means the text holds no tool call in the format.
var ErrNoToolCall = errors.New("no tool call")

// ParseToolCalls reads the tool calls out of a complete model answer.
// content is the text outside the calls (trimmed). A text with no call
// gives the whole text back as content and no calls; a call marker whose
// payload does not parse is an error, and content is then the whole text.
func ParseToolCalls(f ToolFormat, text string) (content string, calls []ParsedCall, err error) {
	if len(text) > maxToolCallText {
		return text, nil, fmt.Errorf("model output of %d bytes is too long to parse for tool calls", len(text))
	}
	switch f {
	case ToolsHermes:
		content, calls, err = parseTagged(text, hermesOpen, hermesClose, parseCallObjects)
	case ToolsPhi4:
		content, calls, err = parseTagged(text, phi4Open, phi4Close, parseCallObjects)
	case ToolsMistral:
		content, calls, err = parseMistral(text)
	case ToolsDeepSeek:
		content, calls, err = parseDeepSeek(text)
	case ToolsLlama3:
		content, calls, err = parseLlama3(text)
	case ToolsJSON:
		content, calls, err = parseBareJSON(text)
	default:
		return text, nil, nil
	}
	if errors.Is(err, ErrNoToolCall) {
		return text, nil, nil
	}
	if err != nil {
		return text, nil, fmt.Errorf("%s tool call: %w", f, err)
	}
	if len(calls) > maxToolCalls {
		return text, nil, fmt.Errorf("%s tool call: more than %d calls", f, maxToolCalls)
	}
	return content, calls, nil
}

// parseTagged reads open...close blocks; a last block the model did not
// close (it stopped at its end-of-turn token) runs to the end.
func parseTagged(text, open, close string, payload func(string) ([]ParsedCall, error)) (string, []ParsedCall, error) {
	if !strings.Contains(text, open) {
		return text, nil, ErrNoToolCall
	}
	var content strings.Builder
	var calls []ParsedCall
	rest := text
	for {
		before, after, found := strings.Cut(rest, open)
		content.WriteString(before)
		if !found {
			break
		}
		body, tail, _ := strings.Cut(after, close)
		cs, err := payload(body)
		if err != nil {
			return "", nil, err
		}
		calls = append(calls, cs...)
		rest = tail
	}
	return strings.TrimSpace(content.String()), calls, nil
}

// callObject is the JSON shape most formats write for one call.
type callObject struct {
	Name       string          `json:"name"`
	Arguments  json.RawMessage `json:"arguments"`
	Parameters json.RawMessage `json:"parameters"`
	ID         string          `json:"id"`
	// Function holds {"name","arguments"} for models that echo OpenAI's
	// {"type":"function","function":{...}} shape.
	Function *callObject `json:"function"`
}

func (c callObject) parsed() (ParsedCall, error) {
	if c.Function != nil && c.Name == "" {
		inner := *c.Function
		if inner.ID == "" {
			inner.ID = c.ID
		}
		inner.Function = nil
		return inner.parsed()
	}
	if c.Name == "" {
		return ParsedCall{}, errors.New("call without a name")
	}
	args := c.Arguments
	if len(args) == 0 {
		args = c.Parameters
	}
	a, err := normalizeArguments(args)
	if err != nil {
		return ParsedCall{}, fmt.Errorf("call %q: %w", c.Name, err)
	}
	return ParsedCall{ID: c.ID, Name: c.Name, Arguments: a}, nil
}

// normalizeArguments returns the arguments as a compact JSON object; a
// string holding an object (some models write OpenAI's form) is unwrapped,
// missing arguments are {}.
func normalizeArguments(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}"), nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("arguments are not a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("arguments: %w", err)
	}
	return buf.Bytes(), nil
}

// parseCallObjects reads one call object, an array of them, or several
// objects one after another.
func parseCallObjects(s string) ([]ParsedCall, error) {
	s = strings.TrimSpace(stripFence(strings.TrimSpace(s)))
	if s == "" {
		return nil, errors.New("empty call")
	}
	dec := json.NewDecoder(strings.NewReader(s))
	var calls []ParsedCall
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) && len(calls) > 0 {
				return calls, nil
			}
			return nil, fmt.Errorf("call is not JSON: %w", err)
		}
		cs, err := callsFromJSON(raw)
		if err != nil {
			return nil, err
		}
		calls = append(calls, cs...)
		if len(calls) > maxToolCalls {
			return nil, fmt.Errorf("more than %d calls", maxToolCalls)
		}
		rest := strings.TrimLeft(s[dec.InputOffset():], " \t\r\n;,")
		if rest == "" {
			return calls, nil
		}
		dec = json.NewDecoder(strings.NewReader(rest))
		s = rest
	}
}

func callsFromJSON(raw json.RawMessage) ([]ParsedCall, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var objs []callObject
		if err := json.Unmarshal(raw, &objs); err != nil {
			return nil, fmt.Errorf("calls: %w", err)
		}
		calls := make([]ParsedCall, 0, len(objs))
		for _, o := range objs {
			c, err := o.parsed()
			if err != nil {
				return nil, err
			}
			calls = append(calls, c)
		}
		return calls, nil
	}
	var o callObject
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("call: %w", err)
	}
	c, err := o.parsed()
	if err != nil {
		return nil, err
	}
	return []ParsedCall{c}, nil
}

// stripFence removes a ```json ... ``` (or ``` ... ```) fence around s.
func stripFence(s string) string {
	if !strings.HasPrefix(s, "```") {
		return s
	}
	body := strings.TrimPrefix(s, "```")
	body = strings.TrimPrefix(body, "json")
	body, _, _ = strings.Cut(body, "```")
	return body
}

func parseMistral(text string) (string, []ParsedCall, error) {
	before, after, found := strings.Cut(text, mistralCalls)
	if !found {
		return text, nil, ErrNoToolCall
	}
	after = strings.TrimSpace(after)
	if strings.HasPrefix(after, "[") || strings.HasPrefix(after, "{") {
		calls, err := parseCallObjects(after)
		return strings.TrimSpace(before), calls, err
	}
	// name[ARGS]{...}, repeated after further [TOOL_CALLS] markers; a
	// [CALL_ID]id may sit between name and [ARGS].
	var calls []ParsedCall
	for _, part := range strings.Split(after, mistralCalls) {
		name, args, ok := strings.Cut(part, mistralArgs)
		if !ok {
			return "", nil, errors.New("[TOOL_CALLS] without [ARGS]")
		}
		var id string
		name, id, _ = strings.Cut(name, mistralCallID)
		name = strings.TrimSpace(name)
		if name == "" {
			return "", nil, errors.New("call without a name")
		}
		dec := json.NewDecoder(strings.NewReader(args))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", nil, fmt.Errorf("call %q: arguments are not JSON: %w", name, err)
		}
		a, err := normalizeArguments(raw)
		if err != nil {
			return "", nil, fmt.Errorf("call %q: %w", name, err)
		}
		calls = append(calls, ParsedCall{ID: strings.TrimSpace(id), Name: name, Arguments: a})
	}
	return strings.TrimSpace(before), calls, nil
}

func parseDeepSeek(text string) (string, []ParsedCall, error) {
	before, after, found := strings.Cut(text, dsCallsBegin)
	if !found {
		// Some distills drop the outer marker and open a call directly.
		before, after, found = strings.Cut(text, dsCallBegin)
		if !found {
			return text, nil, ErrNoToolCall
		}
		after = dsCallBegin + after
	}
	block, tail, _ := strings.Cut(after, dsCallsEnd)
	var calls []ParsedCall
	for _, part := range strings.Split(block, dsCallBegin)[1:] {
		body, _, _ := strings.Cut(part, dsCallEnd)
		head, args, ok := strings.Cut(body, dsSep)
		if !ok {
			return "", nil, errors.New("call without " + dsSep)
		}
		name := strings.TrimSpace(head)
		if fenced := strings.Index(args, "```"); fenced >= 0 {
			// R1: function<sep>name\n```json\n{...}\n```
			name = strings.TrimSpace(args[:fenced])
			args = stripFence(strings.TrimSpace(args[fenced:]))
		}
		if name == "" {
			return "", nil, errors.New("call without a name")
		}
		a, err := normalizeArguments(json.RawMessage(strings.TrimSpace(args)))
		if err != nil {
			return "", nil, fmt.Errorf("call %q: %w", name, err)
		}
		calls = append(calls, ParsedCall{Name: name, Arguments: a})
	}
	if len(calls) == 0 {
		return "", nil, errors.New("tool-call block without calls")
	}
	return strings.TrimSpace(before + tail), calls, nil
}

// parseLlama3 reads Llama 3's JSON calls: the answer (after an optional
// <|python_tag|>) is a call object, or several separated by ';'.
func parseLlama3(text string) (string, []ParsedCall, error) {
	s := strings.TrimSpace(text)
	tagged := strings.HasPrefix(s, llamaPythonTag)
	s = strings.TrimSpace(strings.TrimPrefix(s, llamaPythonTag))
	if !strings.HasPrefix(s, "{") {
		if tagged {
			return "", nil, errors.New("<|python_tag|> without a JSON call (built-in tools are not supported)")
		}
		return text, nil, ErrNoToolCall
	}
	calls, err := parseCallObjects(s)
	if err != nil && !tagged {
		// An answer that merely starts with '{' is content, not a call.
		return text, nil, ErrNoToolCall
	}
	return "", calls, err
}

// parseBareJSON reads an answer that is nothing but a call object or an
// array of them, optionally fenced.
func parseBareJSON(text string) (string, []ParsedCall, error) {
	s := strings.TrimSpace(stripFence(strings.TrimSpace(text)))
	if !strings.HasPrefix(s, "{") && !strings.HasPrefix(s, "[") {
		return text, nil, ErrNoToolCall
	}
	calls, err := parseCallObjects(s)
	if err != nil {
		return text, nil, ErrNoToolCall
	}
	return "", calls, nil
}
