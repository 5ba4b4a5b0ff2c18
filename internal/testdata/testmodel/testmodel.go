// Package testmodel finds fixture model files for tests, making the ones
// the fixtures do not ship: each *-F32.gguf is the exact upcast of the
// *-F16.gguf beside it (the fixtures' README), so a missing F32 file is
// rebuilt from its F16 sibling once per machine and cached.
package testmodel

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/testdata"
)

var mu sync.Mutex

// Path returns the path of the fixture model file (e.g. "llama-F32.gguf"),
// building an unshipped F32 file from its F16 sibling. It skips or fails t
// as testdata.Path does when the fixtures are missing.
func Path(t testing.TB, file string) string {
	t.Helper()
	dir := testdata.Dir(t)
	p := filepath.Join(dir, "models", file)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	base, ok := strings.CutSuffix(file, "-F32.gguf")
	if !ok {
		return testdata.Path(t, "models", file) // fails or skips, naming it
	}
	src := testdata.Path(t, "models", base+"-F16.gguf")
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	key := sha256.Sum256([]byte(fmt.Sprintf("%s %d %d", src, fi.Size(), fi.ModTime().UnixNano())))
	out := filepath.Join(os.TempDir(), "ainative-fixtures-"+hex.EncodeToString(key[:6]), file)
	mu.Lock()
	defer mu.Unlock()
	if _, err := os.Stat(out); err == nil {
		return out
	}
	if err := upcast(src, out); err != nil {
		t.Fatalf("building %s from %s: %v", file, src, err)
	}
	return out
}

// upcast writes src with every F16 tensor converted to F32; metadata,
// other tensors and order are unchanged.
func upcast(src, out string) error {
	f, err := gguf.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	b := gguf.NewBuilder()
	for _, kv := range f.Metadata {
		if err := b.Set(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		typ, data := ti.Type, f.TensorData(ti)
		if typ == tensor.F16 {
			vals := make([]float32, ti.Elements())
			if err := tensor.Dequantize(tensor.F16, vals, data); err != nil {
				return err
			}
			typ, data = tensor.F32, make([]byte, 4*len(vals))
			for j, v := range vals {
				binary.LittleEndian.PutUint32(data[4*j:], math.Float32bits(v))
			}
		}
		if err := b.AddTensor(ti.Name, typ, ti.Dims, data); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return b.WriteFile(out)
}
