package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzProcessLines feeds arbitrary input to the tokenize filter: every
// non-blank line must be answered by exactly one line holding a JSON
// object, an error line exactly when ProcessLines reports bad lines, and
// nothing may panic.
func FuzzProcessLines(f *testing.F) {
	for _, s := range []string{
		`{"text":"a b"}`, `{"ids":[1,2]}`, `["a"]`, "\uFEFF{\"text\":\"x\"}", `{"text":"a"}}`, `{"TEXT":"a"}`,
		`{"id":1,"text":"x","n":null}`, `{"text":"a","text":"b"}`, "{\"text\":\"a\"}\n\n{", `{"text":"\ud800"}`,
		`{"ids":[-1]}`, `{"ids":[1e3]}`, `{"text":{"a":1}}`, "\x00", `{"a":1 , "text" : "q" }`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	tk := fromEntries(f, bpeEntries("qwen2"))
	f.Fuzz(func(t *testing.T, in string, decode bool) {
		var out bytes.Buffer
		err := ProcessLines(tk, strings.NewReader(in), &out, LinesOptions{Decode: decode, MaxLineBytes: 4096})
		if err != nil && !errors.Is(err, ErrBadLines) {
			t.Fatalf("%q: %v", in, err)
		}
		want := 0
		for i, line := range strings.Split(in, "\n") {
			if i == 0 {
				line = strings.TrimPrefix(line, "\uFEFF")
			}
			if len(bytes.TrimSpace([]byte(line))) > 0 {
				want++
			}
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if out.Len() == 0 {
			lines = nil
		}
		if len(lines) != want {
			t.Fatalf("%q: %d input lines answered by %d:\n%s", in, want, len(lines), out.String())
		}
		errs := 0
		for _, l := range lines {
			var obj map[string]any
			if err := json.Unmarshal([]byte(l), &obj); err != nil {
				t.Fatalf("%q: output line %q is not an object: %v", in, l, err)
			}
			if _, ok := obj["error"]; ok {
				errs++
			}
		}
		if (errs > 0) != (err != nil) {
			t.Fatalf("%q: %d error lines, ProcessLines returned %v", in, errs, err)
		}
	})
}
