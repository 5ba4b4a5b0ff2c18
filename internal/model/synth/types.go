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
	"Q2_K":   {"Q2_K", tensor.Q2_K, 10},
	"Q3_K_S": {"Q3_K_S", tensor.Q3_K, 11},
	"Q3_K_M": {"Q3_K_M", tensor.Q3_K, 12},
	"Q3_K_L": {"Q3_K_L", tensor.Q3_K, 13},
	"IQ4_NL": {"IQ4_NL", tensor.IQ4_NL, 25},
	"IQ4_XS": {"IQ4_XS", tensor.IQ4_XS, 30},
	// IQ3_M is IQ3_S with more Q4_K; IQ3_XXS keeps attn_q and attn_k in
	// IQ3_XXS where llama.cpp takes IQ2_S (see TypePicker).
	"IQ3_XXS": {"IQ3_XXS", tensor.IQ3_XXS, 23},
	"IQ3_S":   {"IQ3_S", tensor.IQ3_S, 26},
	"IQ3_M":   {"IQ3_M", tensor.IQ3_S, 27},
}

// FileTypeNames lists the known file types, for help texts.
func FileTypeNames() string { return names(FileTypes) }

// LookupFileType returns the file type of a name (case-insensitive).
func LookupFileType(name string) (FileType, error) { return lookupFileType(name) }

func lookupFileType(name string) (FileType, error) {
	ft, ok := FileTypes[strings.ToUpper(name)]
	if !ok {
		return FileType{}, fmt.Errorf("synth: unknown type %q (known: %s)", name, FileTypeNames())
	}
	return ft, nil
}

// Quantized reports whether the type quantizes weights (not F32, F16,
// BF16).
func (ft FileType) Quantized() bool { return ft.quantized() }

func (ft FileType) quantized() bool {
	switch ft.Base {
	case tensor.F32, tensor.F16, tensor.BF16:
		return false
	}
	return true
}

// ModelInfo is what the per-tensor type rules need to know of a model.
type ModelInfo struct {
	Layers  int
	Experts int  // 0 or 1: dense
	GQA     int  // query heads per key/value head
	Tied    bool // no output.weight: token_embd is the output too
}

// TypePicker assigns each weight matrix its type the way llama.cpp's
// llama_tensor_get_type does with default parameters and no importance
// matrix, so that a file mixes types like the ones people download: the
// output (or the tied embedding) in Q6_K, attn_v and ffn_down with more
// bits on the layers use_more_bits picks (Q4_K_M, Q5_K_M) or on the
// first ones (Q4_K_S, Q3_K_M, IQ4_*, IQ3_M), Q2_K's, Q3_K's and the IQ3
// types' bumps of attn_v, ffn_down and attn_output, and the fallbacks
// when a row is not a whole number of the type's blocks (Q4_K to Q5_0,
// Q5_K to Q5_1, Q6_K to Q8_0, Q2_K, Q3_K, IQ3_XXS, IQ3_S and IQ4_XS to
// IQ4_NL, then F16). With 8 or more experts, attn_k and attn_v go to
// Q8_0 and attn_output to Q5_K (for the low-bit types), as in the
// Qwen3-30B-A3B files people download.
//
// IQ3_XXS follows llama.cpp's rules without an importance matrix (output
// Q5_K, token_embd IQ3_S, attn_v IQ3_S or Q4_K, ffn_down Q4_K then Q3_K,
// attn_output IQ3_S) but one: llama.cpp puts attn_q and attn_k in IQ2_S,
// which it refuses to make without an importance matrix (so it makes no
// IQ3_XXS file without one) and this engine cannot make at all; here they
// stay IQ3_XXS. Pick must be
// called in the file's tensor order: llama.cpp counts attn_v tensors as
// it goes; ffn_down (ffn_down_exps in a mixture) counts by its block.
// ggml's quantizer never quantizes routers (ffn_gate_inp) or 1-D
// tensors: the caller keeps those as they are.
type TypePicker struct {
	ft     FileType
	mi     ModelInfo
	iAttnV int
}

// NewTypePicker returns a picker for file type ft and model mi.
func NewTypePicker(ft FileType, mi ModelInfo) *TypePicker {
	return &TypePicker{ft: ft, mi: mi}
}

type typePicker = TypePicker

func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// blockLayer is the block number in a name "blk.N.…", or -1.
func blockLayer(name string) int {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	n := 0
	for i, c := range rest {
		if c == '.' && i > 0 {
			return n
		}
		if c < '0' || c > '9' || n > 1<<20 {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return -1
}

// Pick returns the type of the weight matrix name whose rows have cols
// elements.
func (p *TypePicker) Pick(name string, cols int) tensor.Type { return p.pick(name, cols) }

func (p *TypePicker) pick(name string, cols int) tensor.Type {
	t := p.ft.Base
	if !p.ft.quantized() {
		return t
	}
	ft, mi := p.ft.Name, p.mi
	moe8 := mi.Experts >= 8
	switch {
	case name == "output.weight" || (mi.Tied && name == "token_embd.weight"):
		switch {
		case cols%t.BlockSize() != 0:
			t = tensor.Q8_0
		case ft == "IQ3_XXS":
			t = tensor.Q5_K
		case t != tensor.Q8_0:
			t = tensor.Q6_K
		}
	case name == "token_embd.weight":
		if ft == "IQ3_XXS" {
			t = tensor.IQ3_S
		}
	case strings.Contains(name, "attn_v.weight"):
		switch {
		case ft == "Q2_K":
			t = tensor.Q3_K
			if mi.GQA >= 4 {
				t = tensor.Q4_K
			}
		case ft == "Q3_K_M":
			t = tensor.Q4_K
			if p.iAttnV < 2 {
				t = tensor.Q5_K
			}
		case ft == "IQ3_XXS":
			t = tensor.IQ3_S // no importance matrix
			if mi.GQA >= 4 {
				t = tensor.Q4_K
			}
		case ft == "IQ3_S" && mi.GQA >= 4, ft == "IQ3_M":
			t = tensor.Q4_K
		case ft == "Q3_K_L":
			t = tensor.Q5_K
		case (ft == "IQ4_NL" || ft == "IQ4_XS") && mi.GQA >= 4:
			t = tensor.Q5_K
		case (ft == "Q4_K_M" || ft == "Q5_K_M") && useMoreBits(p.iAttnV, mi.Layers):
			t = tensor.Q6_K
		case ft == "Q4_K_S" && p.iAttnV < 4:
			t = tensor.Q5_K
		}
		if moe8 {
			t = tensor.Q8_0
		}
		p.iAttnV++
	case strings.Contains(name, "attn_k.weight"):
		if moe8 {
			t = tensor.Q8_0
		}
	case strings.Contains(name, "ffn_down"):
		il, n := blockLayer(name), mi.Layers
		switch {
		case ft == "Q2_K":
			t = tensor.Q3_K
		case ft == "IQ3_XXS": // no importance matrix
			if il < n/8 {
				t = tensor.Q4_K
			} else {
				t = tensor.Q3_K
			}
		case ft == "Q3_K_M":
			if il < n/16 {
				t = tensor.Q5_K
			} else {
				t = tensor.Q4_K
			}
		case ft == "IQ3_M" && (il < n/8 || moe8 && useMoreBits(il, n)):
			t = tensor.Q4_K
		case ft == "Q3_K_L":
			t = tensor.Q5_K
		case ft == "Q4_K_M":
			if useMoreBits(il, n) {
				t = tensor.Q6_K
			}
		case il < n/8 && (ft == "IQ4_NL" || ft == "IQ4_XS"):
			t = tensor.Q5_K
		case ft == "Q5_K_M" && useMoreBits(il, n):
			t = tensor.Q6_K
		case ft == "Q4_K_S" && il < n/8:
			t = tensor.Q5_K
		}
	case strings.Contains(name, "attn_output.weight"):
		if moe8 {
			switch ft {
			case "Q2_K", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S", "IQ3_M", "IQ4_XS":
				t = tensor.Q5_K
			}
			break
		}
		switch ft {
		case "Q2_K":
			t = tensor.Q3_K
		case "IQ3_XXS":
			t = tensor.IQ3_S
		case "Q3_K_M", "IQ3_M":
			t = tensor.Q4_K
		case "Q3_K_L":
			t = tensor.Q5_K
		}
	case strings.Contains(name, "attn_qkv.weight"):
		switch ft {
		case "Q3_K_M", "Q3_K_L", "IQ3_M":
			t = tensor.Q4_K
		case "Q4_K_M":
			t = tensor.Q5_K
		case "Q5_K_M":
			t = tensor.Q6_K
		}
	}
	if cols%t.BlockSize() != 0 {
		switch t {
		case tensor.Q2_K, tensor.Q3_K, tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ4_XS:
			t = tensor.IQ4_NL
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
