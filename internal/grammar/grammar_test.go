package grammar

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemas exercise every supported keyword; every one must compile and
// every random walk must validate against it.
var schemas = []string{
	`true`,
	`{}`,
	`{"type":"object"}`,
	`{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0,"maximum":150},"ok":{"type":"boolean"}},"required":["name","age"]}`,
	`{"type":"object","properties":{"a":{"type":"null"},"b":{"type":"number"},"c":{"type":"string","maxLength":3}}}`,
	`{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string","maxLength":4}}`,
	`{"type":"object","properties":{"a":{"type":"integer"}},"required":["a","zz"],"additionalProperties":true}`,
	`{"properties":{"q\"uo\\te":{"const":1},"日本":{"enum":["x","y",3,null,{"k":[1,2]}]}},"required":["q\"uo\\te","日本"]}`,
	`{"properties":{"日本":{"type":"integer"},"a\"b":{"type":"null"},"ab":{"type":"null"}},"additionalProperties":{"type":"boolean"}}`,
	`{"enum":["red","green","blue"]}`,
	`{"type":"string","enum":["a",1,"b"]}`,
	`{"const":{"a":[true,false,null]}}`,
	`{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":4}`,
	`{"type":"array","prefixItems":[{"type":"string"},{"type":"number"}],"items":false}`,
	`{"type":"array","prefixItems":[{"type":"boolean"}],"items":{"type":"null"},"minItems":3}`,
	`{"$schema":"http://json-schema.org/draft-07/schema#","type":"array","items":[{"type":"string"}],"additionalItems":{"type":"integer"}}`,
	`{"type":"array","maxItems":0}`,
	`{"type":["string","null"]}`,
	`{"type":["integer","number","boolean"]}`,
	`{"anyOf":[{"type":"object","properties":{"kind":{"const":"a"},"x":{"type":"integer"}},"required":["kind","x"]},{"type":"object","properties":{"kind":{"const":"b"},"y":{"type":"string"}},"required":["kind"]}]}`,
	`{"oneOf":[{"type":"string"},{"type":"integer"},{"type":"array","items":{"type":"boolean"}}]}`,
	`{"type":"object","anyOf":[{"properties":{"a":{"type":"integer"}},"required":["a"]},{"properties":{"b":{"type":"integer"}},"required":["b"]}]}`,
	`{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"properties":{"b":{"type":"integer","minimum":3}},"required":["b"]},{"properties":{"b":{"maximum":7}}}]}`,
	`{"allOf":[{"properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false},{"properties":{"a":{"maxLength":2}}}]}`,
	`{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v"]}},"$ref":"#/$defs/node"}`,
	`{"definitions":{"s":{"type":"string","minLength":2,"maxLength":5}},"type":"object","properties":{"x":{"$ref":"#/definitions/s"},"y":{"$ref":"#/definitions/s"}},"required":["x","y"]}`,
	`{"type":"object","properties":{"next":{"anyOf":[{"$ref":"#"},{"type":"null"}]}},"required":["next"]}`,
	`{"type":"string","minLength":3}`,
	`{"type":"string","maxLength":2}`,
	`{"type":"string","minLength":2,"maxLength":2}`,
	`{"type":"string","pattern":"^[a-z]+@[a-z]+\\.(com|org)$"}`,
	`{"type":"string","pattern":"ab?c"}`,
	`{"type":"string","pattern":"^\\d{3}-\\d{2,4}$"}`,
	`{"type":"string","pattern":"^[^\"\\\\]*\"$"}`,
	`{"type":"string","pattern":"^(?i)hello$"}`,
	`{"type":"string","pattern":"^.é.$"}`,
	`{"type":"string","format":"date"}`,
	`{"type":"string","format":"time"}`,
	`{"type":"string","format":"date-time"}`,
	`{"type":"string","format":"uuid"}`,
	`{"type":"string","format":"email"}`,
	`{"type":"string","format":"hostname"}`,
	`{"type":"string","format":"ipv4"}`,
	`{"type":"integer","minimum":-15,"maximum":1234}`,
	`{"type":"integer","exclusiveMinimum":5,"exclusiveMaximum":9}`,
	`{"type":"integer","minimum":100}`,
	`{"type":"integer","maximum":-100}`,
	`{"type":"number","minimum":-90,"maximum":90}`,
	`{"type":"number","exclusiveMinimum":0,"maximum":1}`,
	`{"type":"number","minimum":0.5,"exclusiveMaximum":2.5}`,
	`{"type":"number","exclusiveMinimum":-1.5,"exclusiveMaximum":0}`,
	`{"type":"number","minimum":3}`,
	`{"type":"integer","minimum":5,"maximum":5}`,
	`{"description":"annotations only","title":"t","examples":[1],"x-unknown":true}`,
	`{"type":"array","uniqueItems":false,"items":{"type":"string","format":"date"}}`,
}

func TestRandomWalksSynthetic(t *testing.T) {
	v := syntheticVocab(t)
	rng := rand.New(rand.NewPCG(1, 2))
	walks := 150
	if testing.Short() {
		walks = 30 // the race run; the plain run walks 150
	}
	for _, schema := range schemas {
		g, err := CompileSchema([]byte(schema))
		if err != nil {
			t.Fatalf("%s: %v", schema, err)
		}
		val := validator(t, schema)
		complete := 0
		for i := 0; i < walks; i++ {
			budget := NoBudget
			if i%2 == 1 {
				budget = g.MinBytes() + rng.IntN(40)
			}
			out, ok := walk(t, g, v, rng, budget, 400)
			if !ok {
				continue
			}
			complete++
			checkDoc(t, val, schema, out)
		}
		if complete < walks/2 {
			t.Errorf("%s: only %d of %d walks completed", schema, complete, walks)
		}
	}
}

func TestRandomWalksRealVocab(t *testing.T) {
	for _, name := range []string{"qwen3", "llama3", "llama2", "gemma2"} {
		t.Run(name, func(t *testing.T) {
			v := realVocab(t, name)
			if !v.ByteComplete() {
				t.Fatalf("%s: not every byte is a token", name)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			walks := 6
			if testing.Short() {
				walks = 2
			}
			for _, schema := range schemas {
				g, err := CompileSchema([]byte(schema))
				if err != nil {
					t.Fatalf("%s: %v", schema, err)
				}
				val := validator(t, schema)
				for i := 0; i < walks; i++ {
					// A uniform draw over 100k tokens almost never closes
					// a string: the budget is what ends these documents.
					budget := g.MinBytes() + rng.IntN(60)
					if i == 0 {
						budget = g.MinBytes() // the tightest budget that fits
					}
					out, ok := walk(t, g, v, rng, budget, 0)
					if !ok {
						t.Fatalf("%s: walk with budget %d ended incomplete: %q", schema, budget, out)
					}
					checkDoc(t, val, schema, out)
				}
			}
		})
	}
}

// TestTightBudget: with exactly the shortest completion's length left,
// the output is still a complete, valid document.
func TestTightBudget(t *testing.T) {
	v := syntheticVocab(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, schema := range schemas {
		g, err := CompileSchema([]byte(schema))
		if err != nil {
			t.Fatal(err)
		}
		val := validator(t, schema)
		for budget := g.MinBytes(); budget < g.MinBytes()+4; budget++ {
			out, ok := walk(t, g, v, rng, budget, 0)
			if !ok {
				t.Fatalf("%s: budget %d: incomplete %q", schema, budget, out)
			}
			checkDoc(t, val, schema, out)
		}
	}
}

func TestBuiltins(t *testing.T) {
	v := syntheticVocab(t)
	rng := rand.New(rand.NewPCG(7, 8))
	val := validator(t, `{"type":"object"}`)
	for i := 0; i < 200; i++ {
		out, ok := walk(t, JSONObject(), v, rng, 10+rng.IntN(40), 0)
		if !ok {
			t.Fatalf("incomplete %q", out)
		}
		checkDoc(t, val, "json object", out)
	}
}

func TestUnsupportedKeywords(t *testing.T) {
	for _, c := range []struct{ schema, keyword string }{
		{`{"type":"integer","multipleOf":3}`, "multipleOf"},
		{`{"not":{"type":"string"}}`, "not"},
		{`{"type":"object","patternProperties":{"^a":{}}}`, "patternProperties"},
		{`{"type":"object","properties":{"x":{"if":{"type":"string"}}}}`, "if"},
		{`{"type":"object","minProperties":1}`, "minProperties"},
		{`{"type":"array","uniqueItems":true}`, "uniqueItems"},
		{`{"type":"array","contains":{"type":"string"}}`, "contains"},
		{`{"type":"string","format":"uri"}`, "format"},
		{`{"$ref":"http://example.com/s.json"}`, "$ref"},
		{`{"$ref":"#/$defs/missing"}`, "$ref"},
		{`{"$ref":"#"}`, "$ref"},
		{`{"type":"string","pattern":"a\\bb"}`, "pattern"},
		{`{"type":"string","pattern":"(a"}`, "pattern"},
		{`{"type":"string","pattern":"a","minLength":2}`, "minLength"},
		{`{"type":"string","maxLength":100000}`, "maxLength"},
		{`{"type":"array","minItems":5000}`, "minItems"},
		{`{"type":"tuple"}`, "type"},
		{`{"allOf":[{"format":"date"},{"format":"uuid"}]}`, "format"},
		{`{"enum":[1],"minimum":0}`, "minimum"},
		{`{"properties":{"a":{}},"additionalProperties":false,"anyOf":[{"properties":{"b":{}}}]}`, "additionalProperties"},
		{`{"allOf":[{"properties":{"a":{}},"additionalProperties":{"type":"string"}},{"required":["b"]}]}`, "additionalProperties"},
		{`{"type":"object","properties":{"a":{}},"required":["b"],"additionalProperties":false}`, "required"},
	} {
		_, err := CompileSchema([]byte(c.schema))
		var se *SchemaError
		if !errors.As(err, &se) {
			t.Errorf("%s: error %v, want a *SchemaError", c.schema, err)
			continue
		}
		if se.Keyword != c.keyword || !strings.Contains(err.Error(), `"`+c.keyword+`"`) {
			t.Errorf("%s: error %q names keyword %q, want %q", c.schema, err, se.Keyword, c.keyword)
		}
	}
}

func TestBadSchemas(t *testing.T) {
	for _, schema := range []string{``, `{`, `[]`, `"x"`, `{"a":1,"a":2}`, `{"type":"integer","minimum":5,"maximum":3}`, `false`, `{"enum":[]}`,
		`{"type":"object","properties":{"a":false},"required":["a"]}`, `{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`,
		`{"type":"object","properties":{"x":{"$ref":"#"}},"required":["x"]}`} {
		if _, err := CompileSchema([]byte(schema)); err == nil {
			t.Errorf("%q compiled; want an error", schema)
		}
	}
}

func TestFramedToolCall(t *testing.T) {
	const params = `{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"]}`
	g, err := CompileSchema([]byte(`{"type":"object","properties":{"name":{"const":"get_weather"},"arguments":` + params + `},"required":["name","arguments"]}`))
	if err != nil {
		t.Fatal(err)
	}
	const prefix, suffix = "<tool_call>\n", "\n</tool_call>"
	f := g.Framed(prefix, suffix)
	if f.MinBytes() != g.MinBytes()+len(prefix)+len(suffix) {
		t.Fatalf("MinBytes %d, want %d", f.MinBytes(), g.MinBytes()+len(prefix)+len(suffix))
	}
	val := validator(t, `{"type":"object","properties":{"name":{"const":"get_weather"},"arguments":`+params+`},"required":["name","arguments"]}`)
	v := realVocab(t, "qwen3")
	m, _ := f.NewMatcher(v)
	mask := make([]uint64, v.MaskWords())
	m.Mask(mask, NoBudget)
	if !Allowed(mask, 151657) { // <tool_call>, a user-defined token
		t.Fatal("<tool_call> token not allowed to open the frame")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 5; i++ {
		out, ok := walk(t, f, v, rng, f.MinBytes()+rng.IntN(30), 0)
		if !ok {
			t.Fatalf("incomplete %q", out)
		}
		s := string(out)
		if !strings.HasPrefix(s, prefix) || !strings.HasSuffix(s, suffix) {
			t.Fatalf("frame missing: %q", s)
		}
		checkDoc(t, val, "tool call", []byte(s[len(prefix):len(s)-len(suffix)]))
	}
}

func TestToolCall(t *testing.T) {
	weather := `{"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["c","f"]}},"required":["city"]}`
	tree := `{"$defs":{"n":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/n"},"maxItems":2}},"required":["v"]}},"type":"object","properties":{"root":{"$ref":"#/$defs/n"}},"required":["root"]}`
	g, err := ToolCall([]Tool{{Name: "get_weather", Parameters: []byte(weather)}, {Name: "plant", Parameters: []byte(tree)}, {Name: "now"}}, "arguments")
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]*jsonschema.Schema{"get_weather": validator(t, weather), "plant": validator(t, tree), "now": validator(t, `{"type":"object"}`)}
	v := syntheticVocab(t)
	rng := rand.New(rand.NewPCG(15, 16))
	seen := map[string]bool{}
	for i := 0; i < 300; i++ {
		out, ok := walk(t, g, v, rng, g.MinBytes()+rng.IntN(60), 0)
		if !ok {
			t.Fatalf("incomplete %q", out)
		}
		var call struct {
			Name      string
			Arguments json.RawMessage
		}
		if err := json.Unmarshal(out, &call); err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		val := vals[call.Name]
		if val == nil {
			t.Fatalf("unknown tool in %q", out)
		}
		seen[call.Name] = true
		checkDoc(t, val, call.Name, call.Arguments)
	}
	if len(seen) != 3 {
		t.Fatalf("only tools %v were called", seen)
	}
	if _, err := ToolCall([]Tool{{Name: "f", Parameters: []byte(`{"not":{}}`)}}, "arguments"); err == nil || !strings.Contains(err.Error(), `tool "f"`) {
		t.Fatalf("unsupported tool schema: %v", err)
	}
	if _, err := ToolCall(nil, "arguments"); err == nil {
		t.Fatal("no tools compiled")
	}
}
