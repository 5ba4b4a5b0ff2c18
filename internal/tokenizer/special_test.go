package tokenizer

import (
	"fmt"
	"slices"
	"testing"
)

// cat joins id lists.
func cat(parts ...[]int32) []int32 {
	var out []int32
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestParseSpecial checks parse_special on each vocabulary. The expected
// ids follow llama.cpp's rules: with parse_special, control and unknown
// tokens are split out of the text (longest first); user-defined tokens
// are split out even without it; after a split-out token a SentencePiece
// vocabulary adds its space prefix again. For the BPE vocabularies the
// expectations are Hugging Face's ids from hf_crosscheck.json, which
// parses special tokens the same way.
func TestParseSpecial(t *testing.T) {
	type tc struct {
		text                 string
		addSpecial, parse    bool
		want                 []int32
		wantDecode, wantSkip string // Decode and DecodeWith(SkipSpecial) of want
	}
	cases := map[string]func(tk *Tokenizer) []tc{
		"qwen3": func(tk *Tokenizer) []tc {
			return []tc{
				{"<|im_start|>user", false, true, []int32{151644, 872}, "<|im_start|>user", "user"},
				{"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>", false, true,
					[]int32{151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 13048, 151645}, "", ""},
				{"<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>", false, true, []int32{151659, 64, 151661, 65, 151660}, "", "ab"},
				{"<|im_start|>", true, true, []int32{151644}, "", ""}, // Qwen adds no BOS
				// Without parse_special, control tokens are text...
				{"<|im_start|>user", false, false, cat(tk.Encode("<|im_start|>", false, false), []int32{872}), "<|im_start|>user", "<|im_start|>user"},
				// ... and user-defined ones (<think>, <tool_call>) are split out anyway.
				{"<tool_call>x</tool_call>", false, false, []int32{151657, 87, 151658}, "<tool_call>x</tool_call>", "<tool_call>x</tool_call>"},
				// <|fim_prefix|> is user-defined in the file, but its name makes it control.
				{"<|fim_prefix|>", false, false, []int32{27, 91, 69, 318, 13974, 91, 29}, "", ""},
			}
		},
		"llama3": func(tk *Tokenizer) []tc {
			return []tc{
				{"<|begin_of_text|>", false, true, []int32{128000}, "<|begin_of_text|>", ""},
				{"<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", false, true, []int32{128006, 882, 128007, 271, 13347, 128009}, "", "user\n\nHi"},
				// add_bos_token is false in this file.
				{"<|eot_id|>", true, true, []int32{128009}, "", ""},
				{"<|eot_id|>", false, false, []int32{27, 91, 68, 354, 851, 91, 29}, "<|eot_id|>", "<|eot_id|>"},
				// The longest special token wins where texts overlap.
				{"<|reserved_special_token_10|>", false, true, []int32{128015}, "", ""},
			}
		},
		"gemma2": func(tk *Tokenizer) []tc {
			userHello := tk.Encode("user\nHello", false, false) // "▁user\nHello": the prefix comes back after a special token
			return []tc{
				{"<start_of_turn>user\nHello<end_of_turn>", false, true, cat([]int32{106}, userHello, []int32{107}), "<start_of_turn> user\nHello<end_of_turn>", " user\nHello"},
				{"<start_of_turn>user\nHello<end_of_turn>", true, true, cat([]int32{2, 106}, userHello, []int32{107}), "<bos><start_of_turn> user\nHello<end_of_turn>", " user\nHello"},
				{"<bos>", true, true, []int32{2, 2}, "<bos><bos>", ""},
				{"<unk>", false, true, []int32{3}, "<unk>", ""},
				{"<start_of_turn>", false, false, tk.Encode("<start_of_turn>", false, false), "<start_of_turn>", "<start_of_turn>"},
			}
		},
		"llama2": func(tk *Tokenizer) []tc {
			inst := tk.Encode("[INST] Hello [/INST]", false, false)
			return []tc{
				{"<s>[INST] Hello [/INST]", false, true, cat([]int32{1}, inst), "<s> [INST] Hello [/INST]", " [INST] Hello [/INST]"},
				{"<s>[INST] Hello [/INST]", true, true, cat([]int32{1, 1}, inst), "<s><s> [INST] Hello [/INST]", " [INST] Hello [/INST]"},
				{"Hi</s>", false, true, cat(tk.Encode("Hi", false, false), []int32{2}), "Hi</s>", "Hi"},
				{"<unk>", false, true, []int32{0}, "<unk>", ""},
				{"<s>", false, false, []int32{529, 29879, 29958}, "<s>", "<s>"},
			}
		},
	}
	for _, v := range vocabs {
		t.Run(v.name, func(t *testing.T) {
			tk := vocab(t, v.name)
			for _, c := range cases[v.name](tk) {
				got := tk.Encode(c.text, c.addSpecial, c.parse)
				if !slices.Equal(got, c.want) {
					t.Errorf("Encode(%q, add=%v, parse=%v)\n got %v\nwant %v", c.text, c.addSpecial, c.parse, got, c.want)
				}
				wantDecode := c.wantDecode
				if wantDecode == "" {
					wantDecode = c.text
				}
				if got := tk.Decode(c.want); got != wantDecode {
					t.Errorf("Decode(%v) = %q, want %q", c.want, got, wantDecode)
				}
				if got := tk.DecodeWith(c.want, DecodeOptions{SkipSpecial: true}); c.wantSkip != "" && got != c.wantSkip {
					t.Errorf("Decode(%v, SkipSpecial) = %q, want %q", c.want, got, c.wantSkip)
				}
			}
		})
	}
}

func TestSpecialIDs(t *testing.T) {
	cases := []struct {
		name           string
		bos, eos, eot  int32
		addBOS, addEOS bool
		eog            []int32
	}{
		{"llama3", 128000, 128009, 128009, false, false, []int32{128001, 128009}},
		// No bos_token_id: llama.cpp's default for GPT-2 vocabularies, 11.
		{"qwen3", 11, 151645, 151645, false, false, []int32{151643, 151645, 151662, 151663, 151664}},
		{"gemma2", 2, 1, 107, true, false, []int32{1, 107}},
		{"llama2", 1, 2, none, true, false, []int32{2}},
	}
	for _, c := range cases {
		tk := vocab(t, c.name)
		bos, _ := tk.BOS()
		eos, _ := tk.EOS()
		eot, _ := tk.EOT()
		if bos != c.bos || eos != c.eos || eot != c.eot || tk.AddBOS() != c.addBOS || tk.AddEOS() != c.addEOS {
			t.Errorf("%s: bos %d eos %d eot %d addBOS %v addEOS %v, want %d %d %d %v %v",
				c.name, bos, eos, eot, tk.AddBOS(), tk.AddEOS(), c.bos, c.eos, c.eot, c.addBOS, c.addEOS)
		}
		if got := tk.EOGs(); !slices.Equal(got, c.eog) {
			t.Errorf("%s: EOGs %v, want %v", c.name, got, c.eog)
		}
		for _, id := range c.eog {
			if !tk.IsEOG(id) {
				t.Errorf("%s: IsEOG(%d) false", c.name, id)
			}
		}
		if tk.IsEOG(bos) || tk.IsEOG(-1) || tk.IsEOG(int32(tk.VocabSize())) {
			t.Errorf("%s: IsEOG true for bos or out of range", c.name)
		}
	}
}

// TestDecodeRemoveSpecial checks llama_detokenize's remove_special: a
// leading BOS goes, and with it the removal of the first word's space.
func TestDecodeRemoveSpecial(t *testing.T) {
	tk := vocab(t, "llama2")
	ids := tk.Encode("Hello world", true, false)
	if ids[0] != 1 {
		t.Fatalf("no BOS: %v", ids)
	}
	for _, c := range []struct {
		opt  DecodeOptions
		want string
	}{
		{DecodeOptions{}, "<s> Hello world"},
		{DecodeOptions{SkipSpecial: true}, " Hello world"},
		{DecodeOptions{RemoveSpecial: true}, " Hello world"},
		{DecodeOptions{}, "<s> Hello world"},
	} {
		if got := tk.DecodeWith(ids, c.opt); got != c.want {
			t.Errorf("DecodeWith(%+v) = %q, want %q", c.opt, got, c.want)
		}
	}
	if got := tk.Decode(ids[1:]); got != "Hello world" {
		t.Errorf("Decode without BOS = %q", got)
	}
}

// TestConcurrentUse encodes and decodes from many goroutines at once (run
// with -race): a Tokenizer is shared by every request of a model.
func TestConcurrentUse(t *testing.T) {
	tk := vocab(t, "qwen3")
	texts := []string{"Hello world", "<|im_start|>user\nHi<|im_end|>", "日本語のテキスト 123", "<think>x</think>"}
	want := make([][]int32, len(texts))
	for i, s := range texts {
		want[i] = tk.Encode(s, true, true)
	}
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				k := (g + i) % len(texts)
				if got := tk.Encode(texts[k], true, true); !slices.Equal(got, want[k]) {
					done <- fmt.Errorf("goroutine %d: %q gave %v, want %v", g, texts[k], got, want[k])
					return
				}
				if got := tk.Decode(want[k]); got != texts[k] {
					done <- fmt.Errorf("goroutine %d: decode %q", g, got)
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestPhi3RStrip: llama.cpp makes Phi-3's special tokens (chosen by
// general.name) swallow the whitespace after them, except <s>, <unk> and
// <|endoftext|>.
func TestPhi3RStrip(t *testing.T) {
	plain := fromEntries(t, spmEntries())
	phi := fromEntries(t, with(spmEntries(), keyGeneralName, "Phi-3-mini-4k-instruct"))
	tag, _ := plain.TokenID("<tag>")
	ctl, _ := plain.TokenID("<|ctl|>")
	for _, c := range []struct {
		tk   *Tokenizer
		text string
		want []int32
	}{
		// Without the rule the text after <tag> keeps its spaces, and gets
		// the space prefix back: "▁▁▁a", as Encode("  a") would see it.
		{plain, "<tag>  a", cat([]int32{tag}, plain.Encode("  a", false, false))},
		// With it, <tag> takes "  " and "a" gets the prefix: "▁a".
		{phi, "<tag>  a", cat([]int32{tag}, plain.Encode("a", false, false))},
		{phi, "<|ctl|>\n a", cat([]int32{ctl}, plain.Encode("a", false, false))},
		// <s> keeps what follows: "▁▁a".
		{phi, "<s> a", cat([]int32{1}, plain.Encode(" a", false, false))},
	} {
		if got := c.tk.Encode(c.text, false, true); !slices.Equal(got, c.want) {
			t.Errorf("%q: got %v, want %v", c.text, got, c.want)
		}
	}
}
