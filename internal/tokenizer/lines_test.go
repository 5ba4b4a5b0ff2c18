package tokenizer

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestProcessLines(t *testing.T) {
	tk := vocab(t, "qwen3")
	cases := []struct {
		name, in string
		opt      LinesOptions
		want     string // output
		bad      bool   // whether ProcessLines reports bad lines
	}{
		{"encode", `{"text":"Hello world"}` + "\n\n" + `{"text":""}`, LinesOptions{},
			`{"text":"Hello world","ids":[9707,1879]}` + "\n" + `{"text":"","ids":[]}` + "\n", false},
		{"parse special", `{"text":"<|im_start|>user"}`, LinesOptions{ParseSpecial: true},
			`{"text":"<|im_start|>user","ids":[151644,872]}` + "\n", false},
		{"decode", `{"ids":[151644,872]}`, LinesOptions{Decode: true},
			`{"ids":[151644,872],"text":"<|im_start|>user"}` + "\n", false},
		{"BOM", "\uFEFF" + `{"text":"a"}`, LinesOptions{}, `{"text":"a","ids":[64]}` + "\n", false},
		{"extra fields pass through", `{"id": 7, "text":"a", "meta": {"k": [1, 2]}}`, LinesOptions{},
			`{"id":7,"meta":{"k":[1,2]},"text":"a","ids":[64]}` + "\n", false},
		{"extra fields when decoding", `{"ids":[64],"id":"x"}`, LinesOptions{Decode: true},
			`{"id":"x","ids":[64],"text":"a"}` + "\n", false},
		{"bad line answered, stream goes on", "{\"text\":\"a\"}\n{\"text\":\"b\"\n{\"text\":\"c\"}\n", LinesOptions{},
			`{"text":"a","ids":[64]}` + "\n" + `{"error":"line 2: bad JSON: the line ends inside the object"}` + "\n" + `{"text":"c","ids":[66]}` + "\n", true},
		{"error keeps the id", `{"id":3,"text":1}`, LinesOptions{},
			`{"id":3,"error":"line 1: \"text\" is a number, want a string"}` + "\n", true},
		{"array", `["a"]`, LinesOptions{}, `{"error":"line 1: want a JSON object, got an array"}` + "\n", true},
		{"string", `"a"`, LinesOptions{}, `{"error":"line 1: want a JSON object, got a string"}` + "\n", true},
		{"no text", `{"ids":[1]}`, LinesOptions{}, `{"error":"line 1: want an object with \"text\""}` + "\n", true},
		{"wrong case", `{"TEXT":"a"}`, LinesOptions{},
			`{"TEXT":"a","error":"line 1: want an object with \"text\", got \"TEXT\" (keys are case-sensitive)"}` + "\n", true},
		{"null text", `{"text":null}`, LinesOptions{}, `{"error":"line 1: \"text\" is null, want a string"}` + "\n", true},
		{"missing field", `{}`, LinesOptions{}, `{"error":"line 1: want an object with \"text\""}` + "\n", true},
		{"duplicate key", `{"text":"a","text":"b"}`, LinesOptions{}, `{"error":"line 1: key \"text\" appears twice"}` + "\n", true},
		{"two values", `{"text":"a"} {"text":"b"}`, LinesOptions{},
			`{"error":"line 1: bad JSON: \"{\\\"text\\\":\\\"b\\\"}\" after the object"}` + "\n", true},
		{"trailing brace", `{"text":"a"}}`, LinesOptions{},
			`{"error":"line 1: bad JSON: \"}\" after the object"}` + "\n", true},
		{"trailing bracket", `{"text":"a"}]`, LinesOptions{},
			`{"error":"line 1: bad JSON: \"]\" after the object"}` + "\n", true},
		{"id out of range", `{"ids":[151936]}`, LinesOptions{Decode: true},
			`{"error":"line 1: token id 151936 is outside the vocabulary of 151936"}` + "\n", true},
		{"ids not integers", `{"ids":[1.5]}`, LinesOptions{Decode: true}, "", true},
		{"ids not an array", `{"ids":"1"}`, LinesOptions{Decode: true},
			`{"error":"line 1: \"ids\" is a string, want an array of token ids"}` + "\n", true},
		{"decode without ids", `{"text":"x"}`, LinesOptions{Decode: true}, `{"error":"line 1: want an object with \"ids\""}` + "\n", true},
		{"long line", `{"text":"` + strings.Repeat("a", 100) + `"}` + "\n" + `{"text":"a"}`, LinesOptions{MaxLineBytes: 50},
			`{"error":"line 1: the line is longer than the limit of 50 bytes"}` + "\n" + `{"text":"a","ids":[64]}` + "\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := ProcessLines(tk, strings.NewReader(c.in), &out, c.opt)
			if c.bad != errors.Is(err, ErrBadLines) || (!c.bad && err != nil) {
				t.Fatalf("error %v, want bad lines reported: %v", err, c.bad)
			}
			if c.want == "" { // only the shape is pinned
				if !strings.HasPrefix(out.String(), `{"error":"line 1: `) {
					t.Errorf("output %q, want an error line", out.String())
				}
				return
			}
			if out.String() != c.want {
				t.Errorf("output\n%s want\n%s", out.String(), c.want)
			}
		})
	}
}

// TestProcessLinesReadError: an error reading the input stops the stream
// after the lines already answered.
func TestProcessLinesReadError(t *testing.T) {
	tk := vocab(t, "qwen3")
	r := io.MultiReader(strings.NewReader(`{"text":"a"}`+"\n"), iotest.ErrReader(errors.New("disk on fire")))
	var out bytes.Buffer
	err := ProcessLines(tk, r, &out, LinesOptions{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || errors.Is(err, ErrBadLines) {
		t.Errorf("error %v", err)
	}
	if out.String() != `{"text":"a","ids":[64]}`+"\n" {
		t.Errorf("output %q", out.String())
	}
}

// TestProcessLinesBoundedMemory: a line beyond the limit is skipped
// without being held in memory.
func TestProcessLinesBoundedMemory(t *testing.T) {
	tk := vocab(t, "qwen3")
	huge := `{"text":"` + strings.Repeat("a", 32<<20) + `"}` + "\n" + `{"text":"b"}` + "\n"
	var out bytes.Buffer
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := ProcessLines(tk, strings.NewReader(huge), &out, LinesOptions{})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrBadLines) {
		t.Fatalf("error %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > uint64(len(huge)/4) {
		t.Errorf("a %d-byte line cost %d bytes", len(huge), n)
	}
	if !strings.HasSuffix(out.String(), `{"text":"b","ids":[65]}`+"\n") {
		t.Errorf("output %q", out.String())
	}
}
