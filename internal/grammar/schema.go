package grammar

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SchemaError is a schema the decoder cannot enforce, or a malformed one.
// Keyword names the offending keyword when there is one, so an API can
// answer 400 naming it.
type SchemaError struct {
	Path    string // JSON pointer of the subschema, "" for the root
	Keyword string // the keyword at fault, or ""
	Reason  string
}

func (e *SchemaError) Error() string {
	at := e.Path
	if at == "" {
		at = "/"
	}
	if e.Keyword != "" {
		return fmt.Sprintf("grammar: schema at %s: keyword %q: %s", at, e.Keyword, e.Reason)
	}
	return fmt.Sprintf("grammar: schema at %s: %s", at, e.Reason)
}

func schemaErr(path, kw, format string, args ...any) error {
	return &SchemaError{Path: path, Keyword: kw, Reason: fmt.Sprintf(format, args...)}
}

// unsupported are the assertion keywords a token mask cannot enforce (or
// that this package does not): a schema using one is refused rather than
// silently not enforced.
var unsupported = map[string]string{
	"not":                   "negation cannot be enforced while decoding",
	"if":                    "conditional schemas are not supported",
	"then":                  "conditional schemas are not supported",
	"else":                  "conditional schemas are not supported",
	"patternProperties":     "not supported",
	"propertyNames":         "not supported",
	"minProperties":         "not supported",
	"maxProperties":         "not supported",
	"dependentRequired":     "not supported",
	"dependentSchemas":      "not supported",
	"dependencies":          "not supported",
	"contains":              "not supported",
	"minContains":           "not supported",
	"maxContains":           "not supported",
	"multipleOf":            "not supported",
	"unevaluatedProperties": "not supported",
	"unevaluatedItems":      "not supported",
	"$dynamicRef":           "only local $ref is supported",
	"$recursiveRef":         "only local $ref is supported",
}

// annotations carry no assertion; everything else that is not a known
// keyword is ignored too, as JSON Schema ignores unknown keywords.
var annotations = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "$anchor": true, "$defs": true,
	"definitions": true, "title": true, "description": true, "default": true,
	"examples": true, "deprecated": true, "readOnly": true, "writeOnly": true,
	"contentMediaType": true, "contentEncoding": true, "contentSchema": true,
	"$vocabulary": true, "$dynamicAnchor": true, "$recursiveAnchor": true,
}

// assertion reports whether a keyword constrains values (as opposed to
// annotating them or being unknown).
func assertion(k string) bool {
	switch k {
	case "type", "enum", "const", "properties", "required", "additionalProperties",
		"items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems",
		"minLength", "maxLength", "pattern", "format", "minimum", "maximum",
		"exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "allOf", "$ref":
		return true
	}
	_, bad := unsupported[k]
	return bad
}

const (
	maxUnroll    = 10000 // string lengths
	maxItemCount = 1000  // minItems/maxItems and prefixItems
	maxMerge     = 32    // allOf/$ref inlining depth
)

type compiler struct {
	n      *nfa
	root   *value
	refs   map[string]int32 // $ref to its rule
	any    int32            // the "any JSON value" rule, or -1
	char   int32            // the "one string character" rule, or -1
	merges int              // allOf/$ref members inlined so far
}

// maxMerges bounds the schemas allOf inlining may copy: a chain of
// allOfs each naming the next twice would otherwise grow exponentially.
const maxMerges = 10000

// CompileSchema compiles a JSON schema into a grammar whose language is
// a subset of the schema's valid instances, serialized as JSON with
// bounded whitespace. See the package documentation for what is
// supported and how the choice of subset is made.
func CompileSchema(schema []byte) (*Grammar, error) {
	root, err := parseJSON(schema)
	if err != nil {
		return nil, fmt.Errorf("grammar: schema is not valid JSON: %w", err)
	}
	if root.kind != 'o' && root.kind != 'b' {
		return nil, schemaErr("", "", "a schema must be an object or a boolean, not %s", root.kindName())
	}
	c := &compiler{n: &nfa{}, root: root, refs: map[string]int32{}, any: -1, char: -1}
	_, start := c.n.newRule()
	s := c.n.ws(start)
	r, err := c.ref("#", "")
	if c.n.err != nil {
		return nil, c.n.err
	}
	if err != nil {
		return nil, err
	}
	s = c.n.ws(c.n.call(s, r))
	c.n.states[s].end = true
	return finish(c.n, r)
}

// JSON returns the grammar of any JSON value.
func JSON() *Grammar { return mustCompile(`true`) }

// JSONObject returns the grammar of any JSON object: what Ollama's
// format "json" (its grammar's root is an object) and OpenAI's
// response_format json_object produce.
func JSONObject() *Grammar { return mustCompile(`{"type":"object"}`) }

func mustCompile(schema string) *Grammar {
	g, err := CompileSchema([]byte(schema))
	if err != nil {
		panic("grammar: built-in schema " + schema + ": " + err.Error())
	}
	return g
}

// ref returns the rule of a local reference, compiling it on first use;
// a recursive reference finds its rule already registered.
func (c *compiler) ref(ref, path string) (int32, error) {
	if r, ok := c.refs[ref]; ok {
		return r, nil
	}
	target, err := c.resolve(ref, path)
	if err != nil {
		return 0, err
	}
	r, start := c.n.newRule()
	c.refs[ref] = r
	out, err := c.schema(target, start, strings.TrimPrefix(ref, "#"))
	if err != nil {
		return 0, err
	}
	c.n.states[out].end = true
	return r, nil
}

func (c *compiler) resolve(ref, path string) (*value, error) {
	if !strings.HasPrefix(ref, "#") {
		return nil, schemaErr(path, "$ref", "%q: only local references (#/$defs/...) are supported", ref)
	}
	v := c.root
	p := ref[1:]
	if p == "" {
		return v, nil
	}
	if p[0] != '/' {
		return nil, schemaErr(path, "$ref", "%q: anchors are not supported, use a JSON pointer", ref)
	}
	for _, tok := range strings.Split(p[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v.kind {
		case 'o':
			v = v.get(tok)
		case 'a':
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v.vals) {
				v = nil
			} else {
				v = v.vals[i]
			}
		default:
			v = nil
		}
		if v == nil {
			return nil, schemaErr(path, "$ref", "%q does not resolve", ref)
		}
	}
	if v.kind != 'o' && v.kind != 'b' {
		return nil, schemaErr(path, "$ref", "%q resolves to a %s, not a schema", ref, v.kindName())
	}
	return v, nil
}

// anyValue returns the rule of any JSON value.
func (c *compiler) anyValue() int32 {
	if c.any >= 0 {
		return c.any
	}
	n := c.n
	r, start := n.newRule()
	c.any = r
	end := n.add()
	n.states[end].end = true
	for _, l := range []string{"null", "true", "false"} {
		n.eps(n.lit(start, l), end)
	}
	n.eps(n.raw(start, numberPattern), end)
	n.eps(n.str(start), end)
	obj, _ := c.object(start, nil, nil, anyProps{allowed: true, rule: r}) // no properties: no error
	n.eps(obj, end)
	n.eps(c.arrayOf(start, nil, r, 0, -1), end)
	return r
}

// charRule returns the rule of one JSON string character.
func (c *compiler) charRule() int32 {
	if c.char < 0 {
		r, start := c.n.newRule()
		c.char = r
		c.n.states[start].charStart = true
		c.n.states[c.n.jsonChar(start)].end = true
	}
	return c.char
}

// str appends any JSON string.
func (n *nfa) str(in int32) int32 {
	return n.lit(n.anyChars(n.lit(in, `"`)), `"`)
}

func (c *compiler) schema(s *value, in int32, path string) (int32, error) {
	if s.kind == 'b' {
		if s.b {
			return c.n.call(in, c.anyValue()), nil
		}
		return c.n.add(), nil // false: nothing is valid
	}
	if s.kind != 'o' {
		return 0, schemaErr(path, "", "a schema must be an object or a boolean, not %s", s.kindName())
	}
	for i, k := range s.keys {
		if why, bad := unsupported[k]; bad {
			return 0, schemaErr(path, k, "%s", why)
		}
		if k == "uniqueItems" && !(s.vals[i].kind == 'b' && !s.vals[i].b) {
			return 0, schemaErr(path, k, "only uniqueItems: false is supported")
		}
	}
	if s.get("allOf") != nil || (s.get("$ref") != nil && hasAssertions(s, "$ref")) {
		flat, err := c.flatten(s, path, 0)
		if err != nil {
			return 0, err
		}
		return c.schema(flat, in, path)
	}
	if ref := s.get("$ref"); ref != nil {
		if ref.kind != 's' {
			return 0, schemaErr(path, "$ref", "must be a string")
		}
		r, err := c.ref(ref.str, path)
		if err != nil {
			return 0, err
		}
		return c.n.call(in, r), nil
	}
	alts, kw := s.get("anyOf"), "anyOf"
	if alts == nil {
		alts, kw = s.get("oneOf"), "oneOf"
	} else if s.get("oneOf") != nil {
		return 0, schemaErr(path, "oneOf", "anyOf and oneOf in one schema are not supported")
	}
	if alts != nil {
		if alts.kind != 'a' || len(alts.vals) == 0 {
			return 0, schemaErr(path, kw, "must be a non-empty array of schemas")
		}
		rest := without(s, "anyOf", "oneOf")
		out := c.n.add()
		for i, alt := range alts.vals {
			ap := fmt.Sprintf("%s/%s/%d", path, kw, i)
			if hasAssertions(rest) {
				merged := &value{kind: 'o'}
				merged.set("allOf", &value{kind: 'a', vals: []*value{rest, alt}})
				alt = merged
			}
			start := c.n.add()
			c.n.eps(in, start)
			e, err := c.schema(alt, start, ap)
			if err != nil {
				return 0, err
			}
			c.n.eps(e, out)
		}
		return out, nil
	}
	if s.get("enum") != nil || s.get("const") != nil {
		return c.literals(s, in, path)
	}
	types, err := schemaTypes(s, path)
	if err != nil {
		return 0, err
	}
	if types == nil {
		return c.n.call(in, c.anyValue()), nil
	}
	out := c.n.add()
	for _, t := range types {
		e, err := c.typed(s, t, in, path)
		if err != nil {
			return 0, err
		}
		c.n.eps(e, out)
	}
	return out, nil
}

func hasAssertions(s *value, except ...string) bool {
	for _, k := range s.keys {
		if assertion(k) && !contains(except, k) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func without(s *value, drop ...string) *value {
	out := &value{kind: 'o'}
	for i, k := range s.keys {
		if !contains(drop, k) {
			out.keys = append(out.keys, k)
			out.vals = append(out.vals, s.vals[i])
		}
	}
	return out
}

var typeNames = []string{"null", "boolean", "object", "array", "number", "integer", "string"}

// schemaTypes returns the types a schema generates: its "type", or, when
// absent, the types its keywords constrain (a schema with only string
// keywords generates strings; one with none, any value: nil).
func schemaTypes(s *value, path string) ([]string, error) {
	t := s.get("type")
	if t == nil {
		var out []string
		has := func(ks ...string) bool {
			for _, k := range ks {
				if s.get(k) != nil {
					return true
				}
			}
			return false
		}
		if has("properties", "required", "additionalProperties") {
			out = append(out, "object")
		}
		if has("items", "prefixItems", "minItems", "maxItems") {
			out = append(out, "array")
		}
		if has("minLength", "maxLength", "pattern", "format") {
			out = append(out, "string")
		}
		if has("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") {
			out = append(out, "number")
		}
		return out, nil
	}
	var list []*value
	switch t.kind {
	case 's':
		list = []*value{t}
	case 'a':
		list = t.vals
	default:
		return nil, schemaErr(path, "type", "must be a string or an array of strings")
	}
	var out []string
	for _, e := range list {
		if e.kind != 's' || !contains(typeNames, e.str) {
			return nil, schemaErr(path, "type", "unknown type %s", e.text())
		}
		if !contains(out, e.str) {
			out = append(out, e.str)
		}
	}
	if contains(out, "number") && contains(out, "integer") {
		// integer is a subset of number: generating both only duplicates.
		var keep []string
		for _, e := range out {
			if e != "integer" {
				keep = append(keep, e)
			}
		}
		out = keep
	}
	if len(out) == 0 {
		return nil, schemaErr(path, "type", "empty list of types: no value is valid")
	}
	return out, nil
}

// literals compiles enum and const: the listed values, spelled compactly.
func (c *compiler) literals(s *value, in int32, path string) (int32, error) {
	var vals []*value
	if e := s.get("enum"); e != nil {
		if e.kind != 'a' {
			return 0, schemaErr(path, "enum", "must be an array")
		}
		vals = e.vals
	}
	if k := s.get("const"); k != nil {
		if s.get("enum") != nil {
			return 0, schemaErr(path, "const", "const beside enum is not supported")
		}
		vals = []*value{k}
	}
	for _, k := range s.keys {
		if assertion(k) && k != "enum" && k != "const" && k != "type" {
			return 0, schemaErr(path, k, "beside enum or const is not supported")
		}
	}
	var types []string
	if s.get("type") != nil {
		var err error
		if types, err = schemaTypes(s, path); err != nil {
			return 0, err
		}
	}
	out := c.n.add()
	for _, v := range vals {
		if types != nil && !ofTypes(v, types) {
			continue
		}
		c.n.eps(c.n.lit(in, v.text()), out)
	}
	return out, nil
}

func ofTypes(v *value, types []string) bool {
	for _, t := range types {
		switch {
		case t == v.kindName(),
			t == "integer" && v.kind == 'n' && isIntegral(v.str):
			return true
		}
	}
	return false
}

func isIntegral(num string) bool {
	f, err := strconv.ParseFloat(num, 64)
	return err == nil && f == math.Trunc(f) && !math.IsInf(f, 0)
}
