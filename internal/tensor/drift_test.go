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
