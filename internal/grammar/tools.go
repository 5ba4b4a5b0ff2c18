package grammar

import (
	"errors"
	"fmt"
)

// Tool is a function a model may call: its name and the JSON schema of
// its arguments.
type Tool struct {
	Name       string
	Parameters []byte // a JSON schema; nil or empty means any object
}

// ToolCall compiles the grammar of one call of any of tools: the object
// {"name": <a tool's name>, <argsKey>: <arguments valid against that
// tool's schema>}, the body of Qwen's and Hermes' <tool_call> (argsKey
// "arguments") or of Llama 3.1's JSON tool call ("parameters"). Each
// schema is compiled on its own, so its $refs keep pointing into it. An
// error names the tool whose schema cannot be enforced. Wrap the result
// with Framed for the template's markers.
func ToolCall(tools []Tool, argsKey string) (*Grammar, error) {
	if len(tools) == 0 {
		return nil, errors.New("grammar: no tools to call")
	}
	n := &nfa{}
	_, start := n.newRule()
	key := n.ws(n.lit(n.ws(n.lit(n.ws(n.lit(n.ws(start), "{")), `"name"`)), ":"))
	out := n.add()
	seen := map[string]bool{}
	for _, t := range tools {
		if seen[t.Name] {
			return nil, fmt.Errorf("grammar: tool %q is listed twice", t.Name)
		}
		seen[t.Name] = true
		params := t.Parameters
		if len(params) == 0 {
			params = []byte(`{"type":"object"}`)
		}
		g, err := CompileSchema(params)
		if err != nil {
			return nil, fmt.Errorf("grammar: tool %q: %w", t.Name, err)
		}
		value := n.embed(g)
		s := n.ws(n.lit(key, quote(t.Name)))
		s = n.ws(n.lit(n.ws(n.lit(n.ws(n.lit(s, ",")), quote(argsKey))), ":"))
		n.eps(n.lit(n.ws(n.call(s, value)), "}"), out)
	}
	n.states[n.ws(out)].end = true
	if n.err != nil {
		return nil, n.err
	}
	return finish(n, 0)
}

// embed copies g's automaton into n and returns the rule of g's value.
func (n *nfa) embed(g *Grammar) int32 {
	so, ro := int32(len(n.states)), int32(len(n.rules))
	if len(n.states)+len(g.states) > maxStates {
		n.err = errTooLarge
		return 0
	}
	for _, s := range g.states {
		c := nstate{call: -1, ret: -1, end: s.end, charStart: s.charStart}
		for _, r := range s.ranges {
			c.ranges = append(c.ranges, byteRange{r.lo, r.hi, r.to + so})
		}
		for _, e := range s.eps {
			c.eps = append(c.eps, e+so)
		}
		if s.call >= 0 {
			c.call, c.ret = s.call+ro, s.ret+so
		}
		n.states = append(n.states, c)
	}
	for _, r := range g.rules {
		n.rules = append(n.rules, r+so)
	}
	return g.value + ro
}
