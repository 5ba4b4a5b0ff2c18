package synth

import (
	"fmt"
	"strings"

	"github.com/raym33/ainative/internal/tensor"
)

// FileType is a model file type as llama.cpp's quantizer names them: a
// base tensor type and rules that give some tensors more bits.
type FileType struct {
	Name string
	Base tensor.Type
	// FType is llama.cpp's llama_ftype, stored as general.file_type.
	FType uint32
}

// FileTypes are the types Build can write.
var FileTypes = map[string]FileType{
	"F32":    {"F32", tensor.F32, 0},
	"F16":    {"F16", tensor.F16, 1},
	"BF16":   {"BF16", tensor.BF16, 32},
	"Q4_0":   {"Q4_0", tensor.Q4_0, 2},
	"Q4_1":   {"Q4_1", tensor.Q4_1, 3},
	"Q8_0":   {"Q8_0", tensor.Q8_0, 7},
	"Q5_0":   {"Q5_0", tensor.Q5_0, 8},
	"Q5_1":   {"Q5_1", tensor.Q5_1, 9},
	"Q4_K_S": {"Q4_K_S", tensor.Q4_K, 14},
	"Q4_K_M": {"Q4_K_M", tensor.Q4_K, 15},
	"Q5_K_S": {"Q5_K_S", tensor.Q5_K, 16},
	"Q5_K_M": {"Q5_K_M", tensor.Q5_K, 17},
	"Q6_K":   {"Q6_K", tensor.Q6_K, 18},
}

// FileTypeNames lists the known file types, for help texts.
func FileTypeNames() string { return names(FileTypes) }

func lookupFileType(name string) (FileType, error) {
	ft, ok := FileTypes[strings.ToUpper(name)]
	if !ok {
		return FileType{}, fmt.Errorf("synth: unknown type %q (known: %s)", name, FileTypeNames())
	}
	return ft, nil
}

func (ft FileType) quantized() bool {
	switch ft.Base {
	case tensor.F32, tensor.F16, tensor.BF16:
		return false
	}
	return true
}

// typePicker assigns each 2-D weight its type the way llama.cpp's
// llama_tensor_get_type does with default parameters, so that a
// synthesized Q4_K_M file mixes types like the ones people download: the
// output (or the tied embedding) in Q6_K, attn_v and ffn_down in Q6_K on
// the layers use_more_bits picks, and the fallbacks when a row is not a
// whole number of 256-element super-blocks (Q4_K to Q5_0, Q5_K to Q5_1,
// Q6_K to Q8_0). With 8 or more experts, attn_k and attn_v go to Q8_0
// and attn_output to Q5_K (for the K-quant types here), as for the
// Qwen3-30B-A3B files people download. The counters follow the file
// order of the tensors; ffn_down_exps counts as a block's ffn_down.
type typePicker struct {
	ft             FileType
	layers         int
	tied           bool
	experts        int
	iAttnV, iFFNDn int
}

func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

func (p *typePicker) pick(name string, cols int) tensor.Type {
	t := p.ft.Base
	if !p.ft.quantized() {
		return t
	}
	km := p.ft.Name == "Q4_K_M" || p.ft.Name == "Q5_K_M"
	switch {
	case name == "output.weight" || (p.tied && name == "token_embd.weight"):
		if cols%t.BlockSize() != 0 {
			t = tensor.Q8_0
		} else if t != tensor.Q8_0 {
			t = tensor.Q6_K
		}
	case name == "token_embd.weight":
	case strings.HasSuffix(name, "attn_v.weight"):
		if km && useMoreBits(p.iAttnV, p.layers) {
			t = tensor.Q6_K
		} else if p.ft.Name == "Q4_K_S" && p.iAttnV < 4 {
			t = tensor.Q5_K
		}
		if p.experts >= 8 {
			t = tensor.Q8_0
		}
		p.iAttnV++
	case strings.HasSuffix(name, "attn_k.weight"):
		if p.experts >= 8 {
			t = tensor.Q8_0
		}
	case strings.HasSuffix(name, "attn_output.weight"):
		if p.experts >= 8 && (p.ft.Name == "Q4_K_S" || p.ft.Name == "Q4_K_M") {
			t = tensor.Q5_K
		}
	case strings.HasSuffix(name, "ffn_down.weight") || strings.HasSuffix(name, "ffn_down_exps.weight"):
		if km && useMoreBits(p.iFFNDn, p.layers) {
			t = tensor.Q6_K
		} else if p.ft.Name == "Q4_K_S" && p.iFFNDn < p.layers/8 {
			t = tensor.Q5_K
		}
		p.iFFNDn++
	case strings.HasSuffix(name, "attn_qkv.weight"):
		switch p.ft.Name {
		case "Q4_K_M":
			t = tensor.Q5_K
		case "Q5_K_M":
			t = tensor.Q6_K
		}
	}
	if cols%t.BlockSize() != 0 {
		switch t {
		case tensor.Q4_K:
			t = tensor.Q5_0
		case tensor.Q5_K:
			t = tensor.Q5_1
		case tensor.Q6_K:
			t = tensor.Q8_0
		}
		if cols%t.BlockSize() != 0 {
			t = tensor.F16
		}
	}
	return t
}
