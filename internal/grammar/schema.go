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
	return finish(c.n)
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

func (c *compiler) typed(s *value, t string, in int32, path string) (int32, error) {
	n := c.n
	switch t {
	case "null":
		return n.lit(in, "null"), nil
	case "boolean":
		out := n.add()
		n.eps(n.lit(in, "true"), out)
		n.eps(n.lit(in, "false"), out)
		return out, nil
	case "integer", "number":
		b, err := numBounds(s, path)
		if err != nil {
			return 0, err
		}
		var expr string
		switch {
		case b.lo == nil && b.hi == nil && t == "integer":
			expr = intPattern
		case b.lo == nil && b.hi == nil:
			expr = numberPattern
		case t == "integer":
			expr = integerRange(b.intLo(), b.intHi())
		default:
			expr = numberRange(b)
		}
		if expr == "" {
			return n.add(), nil // empty range: nothing valid
		}
		return n.raw(in, expr), nil
	case "string":
		return c.stringSchema(s, in, path)
	case "array":
		return c.array(s, in, path)
	case "object":
		return c.objectSchema(s, in, path)
	}
	return 0, schemaErr(path, "type", "unknown type %q", t)
}

func numBounds(s *value, path string) (bounds, error) {
	var b bounds
	num := func(k string) (*float64, error) {
		v := s.get(k)
		if v == nil {
			return nil, nil
		}
		if v.kind == 'b' && (k == "exclusiveMinimum" || k == "exclusiveMaximum") {
			return nil, nil // draft 4 form, read below
		}
		if v.kind != 'n' {
			return nil, schemaErr(path, k, "must be a number")
		}
		f, err := strconv.ParseFloat(v.str, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, schemaErr(path, k, "%s is not a finite number", v.str)
		}
		return &f, nil
	}
	var err error
	if b.lo, err = num("minimum"); err != nil {
		return b, err
	}
	if b.hi, err = num("maximum"); err != nil {
		return b, err
	}
	if e := s.get("exclusiveMinimum"); e != nil && e.kind == 'b' {
		b.loExcl = e.b
	} else if x, err := num("exclusiveMinimum"); err != nil {
		return b, err
	} else if x != nil && (b.lo == nil || *x >= *b.lo) {
		b.lo, b.loExcl = x, true
	}
	if e := s.get("exclusiveMaximum"); e != nil && e.kind == 'b' {
		b.hiExcl = e.b
	} else if x, err := num("exclusiveMaximum"); err != nil {
		return b, err
	} else if x != nil && (b.hi == nil || *x <= *b.hi) {
		b.hi, b.hiExcl = x, true
	}
	return b, nil
}

// formats are the string formats generated, as anchored ASCII patterns
// that produce only valid instances (a subset: no leap seconds, no
// February 29, plain dot-atom e-mail addresses).
var formats = map[string]string{
	"date":      datePattern,
	"time":      timePattern,
	"date-time": datePattern + "T" + timePattern,
	"uuid":      `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`,
	"email":     `[a-zA-Z0-9_+-]{1,30}(\.[a-zA-Z0-9_+-]{1,16}){0,2}@[a-z0-9]{1,20}(\.[a-z0-9]{1,20}){1,3}`,
	"hostname":  `[a-z0-9]{1,20}(\.[a-z0-9]{1,20}){0,3}`,
	"ipv4":      `(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}`,
}

const (
	datePattern = `[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))`
	timePattern = `([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[-+]([01][0-9]|2[0-3]):[0-5][0-9])`
)

func (c *compiler) stringSchema(s *value, in int32, path string) (int32, error) {
	n := c.n
	f, p := s.get("format"), s.get("pattern")
	minL, err := count(s, "minLength", path, maxUnroll)
	if err != nil {
		return 0, err
	}
	maxL, err := count(s, "maxLength", path, maxUnroll)
	if err != nil {
		return 0, err
	}
	if f != nil || p != nil {
		kw := "format"
		if f == nil {
			kw = "pattern"
		}
		if f != nil && p != nil {
			return 0, schemaErr(path, "pattern", "pattern beside format is not supported")
		}
		if minL >= 0 || maxL >= 0 {
			return 0, schemaErr(path, "minLength", "string lengths beside %s are not supported", kw)
		}
	}
	in = n.lit(in, `"`)
	switch {
	case f != nil:
		if f.kind != 's' {
			return 0, schemaErr(path, "format", "must be a string")
		}
		expr, ok := formats[f.str]
		if !ok {
			return 0, schemaErr(path, "format", "format %q is not supported (supported: date, time, date-time, uuid, email, hostname, ipv4)", f.str)
		}
		in = n.raw(in, expr)
	case p != nil:
		if p.kind != 's' {
			return 0, schemaErr(path, "pattern", "must be a string")
		}
		if in, err = n.pattern(in, p.str); err != nil {
			return 0, schemaErr(path, "pattern", "%v", err)
		}
	default:
		if minL < 0 {
			minL = 0
		}
		if maxL >= 0 && maxL < minL {
			return n.add(), nil
		}
		// Counted characters call one shared rule: two states each.
		for i := 0; i < minL; i++ {
			in = n.call(in, c.charRule())
		}
		if maxL < 0 {
			in = n.anyChars(in)
		} else {
			out := n.add()
			for i := minL; i < maxL; i++ {
				n.eps(in, out)
				in = n.call(in, c.charRule())
			}
			n.eps(in, out)
			in = out
		}
	}
	return n.lit(in, `"`), nil
}

// count reads a non-negative integer keyword, -1 when absent.
func count(s *value, k, path string, limit int) (int, error) {
	v := s.get(k)
	if v == nil {
		return -1, nil
	}
	if v.kind != 'n' || !isIntegral(v.str) {
		return 0, schemaErr(path, k, "must be a non-negative integer")
	}
	f, _ := strconv.ParseFloat(v.str, 64)
	if f < 0 {
		return 0, schemaErr(path, k, "must be a non-negative integer")
	}
	if f > float64(limit) {
		if strings.HasPrefix(k, "max") && k != "maxItems" && k != "maxLength" {
			return -1, nil
		}
		return 0, schemaErr(path, k, "%s above %d cannot be enforced", v.str, limit)
	}
	return int(f), nil
}

// rule compiles a subschema as a rule of its own, so that repeating it
// (array items) costs one call state per copy.
func (c *compiler) rule(s *value, path string) (int32, error) {
	r, start := c.n.newRule()
	out, err := c.schema(s, start, path)
	if err != nil {
		return 0, err
	}
	c.n.states[out].end = true
	return r, nil
}

func (c *compiler) array(s *value, in int32, path string) (int32, error) {
	var prefix []int32
	items := s.get("items")
	rest := items
	if items != nil && items.kind == 'a' {
		// Draft 4-7 tuple form: items is the prefix, additionalItems the rest.
		rest = s.get("additionalItems")
		for i, e := range items.vals {
			r, err := c.rule(e, fmt.Sprintf("%s/items/%d", path, i))
			if err != nil {
				return 0, err
			}
			prefix = append(prefix, r)
		}
	} else if p := s.get("prefixItems"); p != nil {
		if p.kind != 'a' {
			return 0, schemaErr(path, "prefixItems", "must be an array of schemas")
		}
		for i, e := range p.vals {
			r, err := c.rule(e, fmt.Sprintf("%s/prefixItems/%d", path, i))
			if err != nil {
				return 0, err
			}
			prefix = append(prefix, r)
		}
	}
	if len(prefix) > maxItemCount {
		return 0, schemaErr(path, "prefixItems", "more than %d items cannot be enforced", maxItemCount)
	}
	restRule := int32(-1) // -1: no further items
	switch {
	case rest == nil || (rest.kind == 'b' && rest.b):
		restRule = c.anyValue()
	case rest.kind == 'b':
	default:
		r, err := c.rule(rest, path+"/items")
		if err != nil {
			return 0, err
		}
		restRule = r
	}
	minI, err := count(s, "minItems", path, maxItemCount)
	if err != nil {
		return 0, err
	}
	maxI, err := count(s, "maxItems", path, maxItemCount)
	if err != nil {
		return 0, err
	}
	if minI < 0 {
		minI = 0
	}
	if restRule < 0 && (maxI < 0 || maxI > len(prefix)) {
		maxI = len(prefix)
	}
	if maxI >= 0 && maxI < minI {
		return c.n.add(), nil
	}
	return c.arrayOf(in, prefix, restRule, minI, maxI), nil
}

// arrayOf appends an array whose item i is prefix[i], then rest (-1:
// none), with minI to maxI (-1: unbounded) items.
func (c *compiler) arrayOf(in int32, prefix []int32, rest int32, minI, maxI int) int32 {
	n := c.n
	out := n.add()
	s := n.ws(n.lit(in, "["))
	if minI == 0 {
		n.eps(n.lit(s, "]"), out)
	}
	itemRule := func(i int) int32 {
		if i < len(prefix) {
			return prefix[i]
		}
		return rest
	}
	unroll := len(prefix)
	if minI > unroll {
		unroll = minI
	}
	if maxI >= 0 {
		unroll = maxI
	}
	for i := 0; i < unroll || i == 0; i++ {
		r := itemRule(i)
		if r < 0 || (maxI >= 0 && i >= maxI) {
			return out
		}
		if i > 0 {
			s = n.ws(n.lit(n.ws(s), ","))
		}
		s = n.call(s, r)
		if i+1 >= minI {
			n.eps(n.lit(n.ws(s), "]"), out)
		}
	}
	if maxI < 0 && rest >= 0 {
		// After the unrolled items, any number of rest items.
		loop := n.ws(n.lit(n.ws(s), ","))
		back := n.call(loop, rest)
		n.eps(back, s)
	}
	return out
}

type prop struct {
	name   string
	schema *value
	req    bool
}

// anyProps says whether properties beyond the declared ones may follow
// them, and the schema (rule) of their values.
type anyProps struct {
	allowed bool
	rule    int32
}

func (c *compiler) objectSchema(s *value, in int32, path string) (int32, error) {
	var props []prop
	if p := s.get("properties"); p != nil {
		if p.kind != 'o' {
			return 0, schemaErr(path, "properties", "must be an object")
		}
		for i, k := range p.keys {
			props = append(props, prop{name: k, schema: p.vals[i]})
		}
	}
	add := s.get("additionalProperties")
	var extra anyProps
	var extraSchema *value
	switch {
	case add == nil && s.get("properties") == nil:
		extra.allowed, extraSchema = true, &value{kind: 'b', b: true}
	case add == nil, add.kind == 'b' && !add.b:
	default:
		extra.allowed, extraSchema = true, add
	}
	if r := s.get("required"); r != nil {
		if r.kind != 'a' {
			return 0, schemaErr(path, "required", "must be an array of strings")
		}
	next:
		for _, e := range r.vals {
			if e.kind != 's' {
				return 0, schemaErr(path, "required", "must be an array of strings")
			}
			for i := range props {
				if props[i].name == e.str {
					props[i].req = true
					continue next
				}
			}
			if !extra.allowed {
				return 0, schemaErr(path, "required", "required property %q is not allowed by additionalProperties", e.str)
			}
			props = append(props, prop{name: e.str, schema: extraSchema, req: true})
		}
	}
	if extra.allowed {
		r, err := c.rule(extraSchema, path+"/additionalProperties")
		if err != nil {
			return 0, err
		}
		extra.rule = r
	}
	return c.object(in, props, func(i int, in int32) (int32, error) {
		return c.schema(props[i].schema, in, path+"/properties/"+props[i].name)
	}, extra)
}

// object appends an object with the declared properties in their order
// (required ones mandatory, optional ones skippable), then, if allowed,
// any number of other properties whose names differ from the declared
// ones. value compiles property i's value.
func (c *compiler) object(in int32, props []prop, value func(int, int32) (int32, error), extra anyProps) (int32, error) {
	n := c.n
	out := n.add()
	first := n.ws(n.lit(in, "{")) // no property yet
	more := int32(-1)             // at least one property
	for i, p := range props {
		k := n.add()
		if first >= 0 {
			n.eps(first, k)
		}
		if more >= 0 {
			n.eps(n.ws(n.lit(n.ws(more), ",")), k)
		}
		v := n.ws(n.lit(n.ws(n.lit(k, quote(p.name))), ":"))
		e, err := value(i, v)
		if err != nil {
			return 0, err
		}
		if !p.req {
			// Skipping the property keeps the states as they are.
			m := n.add()
			n.eps(e, m)
			if more >= 0 {
				n.eps(more, m)
			}
			more = m
		} else {
			more, first = e, -1
		}
	}
	if extra.allowed {
		names := make([]string, len(props))
		for i, p := range props {
			names[i] = p.name
		}
		kv := func(k int32) int32 {
			return n.call(n.ws(n.lit(n.ws(n.keyExcept(k, names)), ":")), extra.rule)
		}
		m := n.add()
		if more >= 0 {
			n.eps(more, m)
			n.eps(kv(n.ws(n.lit(n.ws(m), ","))), m)
		}
		if first >= 0 {
			n.eps(kv(first), m)
		}
		more = m
	}
	if first >= 0 {
		n.eps(n.lit(first, "}"), out)
	}
	if more >= 0 {
		n.eps(n.lit(n.ws(more), "}"), out)
	}
	return out, nil
}
