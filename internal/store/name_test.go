package store

import (
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"qwen2.5:0.5b", "qwen2.5:0.5b"},
		{"Llama3", "llama3:latest"},
		{"team/Helper:V2", "team/helper:v2"},
		{"hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M"},
		{"huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:latest"},
		{"HF.CO/o/r:iq4_xs", "hf.co/o/r:iq4_xs"},
	} {
		n, err := ParseName(tc.in)
		if err != nil {
			t.Errorf("ParseName(%q): %v", tc.in, err)
			continue
		}
		if n.String() != tc.want {
			t.Errorf("ParseName(%q) = %s, want %s", tc.in, n, tc.want)
		}
	}
	for _, tc := range []struct{ in, why string }{
		{"", "empty"},
		{"a:", "tag"},
		{"a:-x", "tag"},
		{"../x", `".."`},
		{"a/../b", "more than two"},
		{"a/b/c", "more than two"},
		{"hf.co/owner", "hf.co/OWNER/REPO"},
		{"hf.co/o/r/x", "hf.co/OWNER/REPO"},
		{"example.com/o/r", "unknown registry"},
		{"a b", "part"},
		{"https://h/x.gguf", "URL"},
		{"x..y", "part"},
		{strings.Repeat("a", 97), "part"},
	} {
		_, err := ParseName(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ParseName(%q) = %v, want an error about %q", tc.in, err, tc.why)
		}
	}
}

func TestAliasesAreHubNames(t *testing.T) {
	for a, target := range Aliases {
		n, err := ParseName(a)
		if err != nil || n.String() != a {
			t.Errorf("alias %q does not parse as itself: %v", a, err)
		}
		tn, err := ParseName(target)
		if err != nil || !tn.IsHub() || tn.Tag == DefaultTag {
			t.Errorf("alias %q -> %q: not a hub name with a quantization (%v)", a, target, err)
		}
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"qwen2.5:0.5b", "hf.co/o/r:Q4_K_M", "a/b", "../../etc", "a:b:c", "huggingface.co/x/y", ".", "a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseName(s)
		if err != nil {
			return
		}
		again, err := ParseName(n.String())
		if err != nil || again != n {
			t.Fatalf("%q -> %s does not parse back (%+v, %v)", s, n, again, err)
		}
		p := n.manifestPath()
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "\\\x00") {
				t.Fatalf("%q: manifest path %q has segment %q", s, p, seg)
			}
		}
		if got, ok := nameFromManifestPath(p); !ok || got != n {
			t.Fatalf("%q: manifest path %q reads back as %+v, %v", s, p, got, ok)
		}
	})
}
