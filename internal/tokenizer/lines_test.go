package tokenizer

import (
	"bytes"
	"strings"
	"testing"
)

func TestProcessLines(t *testing.T) {
	tk := vocab(t, "qwen3")
	cases := []struct {
		name, in string
		opt      LinesOptions
		want     string // output
		err      string // error substring, "" for none
	}{
		{"encode", `{"text":"Hello world"}` + "\n\n" + `{"text":""}`, LinesOptions{},
			`{"text":"Hello world","ids":[9707,1879]}` + "\n" + `{"text":"","ids":[]}` + "\n", ""},
		{"parse special", `{"text":"<|im_start|>user"}`, LinesOptions{ParseSpecial: true},
			`{"text":"<|im_start|>user","ids":[151644,872]}` + "\n", ""},
		{"decode", `{"ids":[151644,872]}`, LinesOptions{Decode: true},
			`{"ids":[151644,872],"text":"<|im_start|>user"}` + "\n", ""},
		{"bad JSON keeps earlier lines", "{\"text\":\"a\"}\n{\"text\":\"b\"\n", LinesOptions{},
			`{"text":"a","ids":[64]}` + "\n", "line 2: bad JSON"},
		{"wrong type", `{"text":1}`, LinesOptions{}, "", `line 1: bad JSON: "text" is a number, want string`},
		{"no text", `{"ids":[1]}`, LinesOptions{}, "", "line 1"},
		{"missing field", `{}`, LinesOptions{}, "", `line 1: want an object with "text"`},
		{"two values", `{"text":"a"} {"text":"b"}`, LinesOptions{}, "", "line 1: bad JSON: more than one value"},
		{"id out of range", `{"ids":[151936]}`, LinesOptions{Decode: true}, "", "line 1: token id 151936 is outside the vocabulary of 151936"},
		{"decode without ids", `{"text":"x"}`, LinesOptions{Decode: true}, "", "line 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := ProcessLines(tk, strings.NewReader(c.in), &out, c.opt)
			if c.err == "" && err != nil {
				t.Fatalf("error %v", err)
			}
			if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("error %v, want %q", err, c.err)
			}
			if out.String() != c.want {
				t.Errorf("output %q, want %q", out.String(), c.want)
			}
		})
	}
}
