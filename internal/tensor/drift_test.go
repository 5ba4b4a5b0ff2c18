package tensor

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// activationHashes are SHA-256 sums of the activation conversions of a
// fixed input, as this package computed them on amd64 when they were
// pinned: a drift check, not a check of correctness (that is the golden
// logits' job). The conversions must keep giving these bytes on every
// architecture and with every kernel set (llama.cpp's logits depend on
// them), whatever the compiler fuses; a deliberate change of the
// conversions updates them.
var activationHashes = map[Type]string{
	Q8_0: "12ebb3f8ed6a91008ebd1b455e024ecfe889e8236e6f2c6ec1a6c0a1de88e40f",
	Q8_1: "000bb91a009516c79d0a8806ee19e39084748c9f3c5ce10277602b571050c2dd",
	Q8_K: "f665be97696fad0e90a46692b45172c444e849c21e7115730bb56ca3fcec7d6e",
	F16:  "a9527f8528b0ac54b455870fcf706b67d5b85890bfc9e2b6fc9deab6239b7ae1",
	BF16: "fc1e2a76c203196f0298dde8b95f4fc7b959aae0646803c74f0b37b1b1c60f91",
}

func TestActivationBytesDrift(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	x := testVector(r, 64*QKK)
	for _, typ := range []Type{Q8_0, Q8_1, Q8_K, F16, BF16} {
		for name, table := range map[string]*opsTable{"kernels": &ops, "portable": &goOps} {
			rb, _ := typ.RowBytes(int64(len(x)))
			b := make([]byte, rb)
			table[typ].fromFloat(b, x)
			sum := sha256.Sum256(b)
			got := hex.EncodeToString(sum[:])
			if want := activationHashes[typ]; got != want {
				t.Errorf("%s (%s): sha256 %s, want %s", typ, name, got, want)
			}
		}
	}
}

// weightHashes are SHA-256 sums of the weight quantizations of a fixed
// input, pinned on amd64 where the quantizers reproduce every block of
// llama.cpp's fixture files (TestRequantizeFixtures in package quantize).
// Those quantizers round float32 products and sums exactly where GCC does
// in llama.cpp's build, so they must give these bytes on every
// architecture, whatever the Go compiler would fuse (it fuses x*y+z on
// arm64 unless a conversion rounds the product).
var weightHashes = map[Type]string{
	Q4_0:   "19af408e6c59533b901a5e6f717a215ced3b4745a54042db790f8a7f6d24402c",
	Q4_1:   "108be58b07dc2ad00dafc0c56c0f930d5833c5a2bdbd05c1db43c5e4968cbcd7",
	Q5_0:   "ceca5192a9879e1621d152ba03e5582135d2aab1d538b740ff6141db65646da6",
	Q5_1:   "3963f1efd2d367ca4a96903e184489ed6339c1d717339426ec2abac04cfcbdf5",
	Q2_K:   "86543f487b7a85956c3d12ac53fcce2b42b496332ca8e3c9f19d9eb088e8b21c",
	Q3_K:   "95e1e9cd367fa3635882f1e9c582d97cac509ba067242cd9606b81147fb92d5f",
	Q4_K:   "acd6aaa5fe314f02711af9b75b1b46068f8814893d3c13072c5edb8c779fcaa2",
	Q5_K:   "f9bdfe29942f8b754a9434018470288f6f97a035985fc4e4beb79ea1394053da",
	Q6_K:   "727c8e362639a020d78a2f49ecd40bcb4f6970f9e8bdcd97dacd4bfdeb2ce0bc",
	IQ4_NL: "036fdb4758119e88157e30d0d57ac6ad82b550e786380fcb5070f4d7eb522449",
	IQ4_XS: "01f8e5c67ba3ae88f42777638bcf1897e0d5bbfc73bb6ec7cbc1228797eb59c2",
	// IQ3_XXS has no fixture: it shares IQ3_S's search, whose arithmetic
	// the qwen2-IQ3_S fixture checks.
	IQ3_XXS: "fc22d89f60d3bcfcba719e20b25c0dcc65d9ed7dc0fdaf2035999543809c08e9",
	IQ3_S:   "e9a6333aa7785773a076f793a26cfbab4abf73bb86d69b2f06d63139fec62c63",
}

func TestWeightBytesDrift(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	x := testVector(r, 64*QKK)
	for _, typ := range []Type{Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, IQ3_XXS, IQ3_S} {
		rb, _ := typ.RowBytes(int64(len(x)))
		b := make([]byte, rb)
		if err := Quantize(typ, b, x); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		got := hex.EncodeToString(sum[:])
		if want := weightHashes[typ]; got != want {
			t.Errorf("%s: sha256 %s, want %s", typ, got, want)
		}
	}
}
