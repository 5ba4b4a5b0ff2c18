package store

import (
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/store/hub"
)

func TestQuantOf(t *testing.T) {
	for file, want := range map[string]string{
		"qwen2.5-0.5b-instruct-q4_k_m.gguf":                 "Q4_K_M",
		"Llama-3.2-1B-Instruct-Q4_K_M.gguf":                 "Q4_K_M",
		"Qwen3-0.6B-Q8_0.gguf":                              "Q8_0",
		"dir/Model-IQ4_XS.gguf":                             "IQ4_XS",
		"gemma-3-1b-it-BF16.gguf":                           "BF16",
		"Big-Q5_K_S-00002-of-00004.gguf":                    "Q5_K_S",
		"Meta-Llama-3.1-8B-Instruct.Q6_K.gguf":              "Q6_K",
		"model.gguf":                                        "",
		"Qwen2.5-Q4_K_M-Q8_0.gguf":                          "Q8_0",
		"SmolLM2-360M-Instruct-IQ3_M.gguf":                  "IQ3_M",
		"gpt-oss-20b-MXFP4.gguf":                            "MXFP4",
		"Mistral-7B-Instruct-v0.3.fp16.gguf":                "FP16",
		"phi-4-Q4_0_4_4.gguf":                               "Q4_0_4_4",
		"tinyllama-1.1b-chat-v1.0.Q2_K-00001-of-00001.gguf": "Q2_K",
	} {
		if got := quantOf(file); got != want {
			t.Errorf("quantOf(%q) = %q, want %q", file, got, want)
		}
	}
}

func TestChooseQuant(t *testing.T) {
	file := func(p string, size int64) hub.File {
		return hub.File{Type: "file", Path: p, LFS: &hub.LFS{OID: strings.Repeat("0", 64), Size: size}}
	}
	cs := candidates([]hub.File{
		file("m-Q2_K.gguf", 100), file("m-Q5_K_M.gguf", 300), file("m-Q8_0.gguf", 500),
		file("m-F16.gguf", 900), file("mmproj-m-F16.gguf", 50), file("README.md", 1),
		file("s/m-Q6_K-00001-of-00002.gguf", 200), file("s/m-Q6_K-00002-of-00002.gguf", 200),
	})
	if len(cs) != 5 {
		t.Fatalf("%d candidates: %+v", len(cs), cs)
	}
	for _, tc := range []struct {
		tag    string
		memory int64
		want   string
	}{
		{"latest", 1000, "Q8_0"}, // the largest that fits, F16 aside
		{"latest", 450, "Q6_K"},  // the split, 400 bytes in all
		{"latest", 350, "Q5_K_M"},
		{"latest", 50, "Q2_K"}, // nothing fits: the smallest
		{"latest", 0, "Q8_0"},  // memory unknown
		{"f16", 10, "F16"},
		{"m-Q2_K.gguf", 10, "Q2_K"},
	} {
		c, err := chooseQuant("o/r", tc.tag, cs, tc.memory)
		if err != nil || c.Quant != tc.want {
			t.Errorf("chooseQuant(%s, %d) = %s, %v; want %s", tc.tag, tc.memory, c.Quant, err, tc.want)
		}
	}
	if c, _ := chooseQuant("o/r", "latest", append(cs, candidates([]hub.File{file("m-Q4_K_M.gguf", 5000)})...), 10); c.Quant != DefaultQuant {
		t.Errorf("latest with a Q4_K_M file chose %s", c.Quant)
	}
	if _, err := chooseQuant("o/r", "Q3_K_S", cs, 0); err == nil || !strings.Contains(err.Error(), "F16, Q2_K, Q5_K_M, Q8_0, Q6_K") {
		t.Errorf("unknown quant: %v", err)
	}
	if _, err := chooseQuant("o/r", "latest", nil, 0); err == nil || !strings.Contains(err.Error(), "no GGUF") {
		t.Errorf("no candidates: %v", err)
	}
}

func FuzzCandidates(f *testing.F) {
	f.Add("m-Q4_K_M.gguf", "s/m-Q6_K-00001-of-00002.gguf", "s/m-Q6_K-00002-of-00002.gguf", int64(5))
	f.Add("x-00000-of-00000.gguf", "mmproj.gguf", "a/b/IQ4_XS.gguf", int64(-1))
	f.Fuzz(func(t *testing.T, a, b, c string, size int64) {
		var files []hub.File
		for _, p := range []string{a, b, c} {
			files = append(files, hub.File{Type: "file", Path: p, LFS: &hub.LFS{Size: size}})
		}
		cs := candidates(files)
		for _, c := range cs {
			if len(c.Files) == 0 || strings.ToUpper(c.Quant) != c.Quant {
				t.Fatalf("candidate %+v", c)
			}
			if len(c.Files) > 1 {
				for i, f := range c.Files {
					if _, k, n, ok := SplitPart(pathBase(f.Path)); !ok || k != i+1 || n != len(c.Files) {
						t.Fatalf("split candidate %+v: part %d is %q", c, i+1, f.Path)
					}
				}
			}
		}
		if len(cs) > 0 {
			if _, err := chooseQuant("o/r", DefaultTag, cs, size); err != nil {
				t.Fatalf("chooseQuant(latest): %v", err)
			}
		}
	})
}

func pathBase(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }
