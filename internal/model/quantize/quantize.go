// Package quantize converts a GGUF model of float weights (F32, F16,
// BF16) to one of llama.cpp's file types, as llama.cpp's
// llama_model_quantize does without an importance matrix: the same
// tensors quantized, each to the type llama.cpp's rules give it (shared
// with package synth's TypePicker), with ggml's reference quantizers
// (package tensor), so that the output's tensors are the bytes
// llama.cpp's quantizer writes.
package quantize

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/raym33/ainative/internal/atomicfile"
	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model/synth"
	"github.com/raym33/ainative/internal/tensor"
)

// Options configure File.
type Options struct {
	// Type is the file type, a key of synth.FileTypes (Q4_K_M, Q8_0, ...).
	Type string
	// Threads quantize rows in parallel; <= 0 means runtime.NumCPU().
	Threads int
	// Progress, if set, is called as tensor data is written, with the
	// bytes of output done and the total.
	Progress func(done, total int64)
}

// Stats describe a quantization.
type Stats struct {
	Tensors   int   // tensors written
	Quantized int   // of which converted
	InBytes   int64 // tensor data in
	OutBytes  int64 // tensor data out
}

// chunkBytes bounds the output quantized at once: rows are converted in
// chunks of about this size, in parallel, and written in order.
const chunkBytes = 4 << 20

// Plan prepares the quantization of in: the output's metadata and its
// tensors, each with its new type. It reads no tensor data: writing the
// Builder quantizes, checking ctx between chunks of rows and reporting
// progress to o.Progress.
func Plan(ctx context.Context, in *gguf.File, o Options) (*gguf.Builder, Stats, error) {
	var st Stats
	tr := &tracker{ctx: ctx, fn: o.Progress}
	defer func() { tr.total = st.OutBytes }()
	ft, err := synth.LookupFileType(o.Type)
	if err != nil {
		return nil, st, fmt.Errorf("quantize: %w", err)
	}
	arch, err := in.Architecture()
	if err != nil {
		return nil, st, fmt.Errorf("quantize: %w", err)
	}
	mi, err := modelInfo(in, arch)
	if err != nil {
		return nil, st, err
	}
	picker := synth.NewTypePicker(ft, mi)
	b := gguf.NewBuilder()
	for _, kv := range in.Metadata {
		if err := b.Set(kv.Key, kv.Value); err != nil {
			return nil, st, fmt.Errorf("quantize: %w", err)
		}
	}
	// As llama.cpp: the version of the quantized formats, then the type.
	if err := b.Set("general.quantization_version", uint32(2)); err != nil {
		return nil, st, err
	}
	if err := b.Set("general.file_type", ft.FType); err != nil {
		return nil, st, err
	}
	threads := o.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	for i := range in.Tensors {
		t := &in.Tensors[i]
		data := in.TensorData(t)
		st.Tensors++
		st.InBytes += int64(len(data))
		typ := t.Type
		if quantizable(t) {
			typ = ft.Base
			if ft.Quantized() {
				typ = picker.Pick(t.Name, int(t.Dims[0]))
			}
		}
		if typ == t.Type {
			copyData := func(w io.Writer) error {
				if err := tr.ctx.Err(); err != nil {
					return err
				}
				_, err := w.Write(data)
				tr.add(len(data))
				return err
			}
			if err := b.AddTensorFunc(t.Name, t.Type, t.Dims, copyData, int64(len(data))); err != nil {
				return nil, st, fmt.Errorf("quantize: %w", err)
			}
			st.OutBytes += int64(len(data))
			continue
		}
		switch t.Type {
		case tensor.F32, tensor.F16, tensor.BF16:
		default:
			return nil, st, fmt.Errorf("quantize: tensor %q is %s: only F32, F16 and BF16 weights can be quantized (requantizing loses precision twice)", t.Name, t.Type)
		}
		size, err := typ.Bytes(t.Dims)
		if err != nil {
			return nil, st, fmt.Errorf("quantize: tensor %q to %s: %w", t.Name, typ, err)
		}
		src, from, to := data, t.Type, typ
		cols := int(t.Dims[0])
		write := func(w io.Writer) error { return convert(tr, w, src, from, to, cols, threads) }
		if err := b.AddTensorFunc(t.Name, typ, t.Dims, write, size); err != nil {
			return nil, st, fmt.Errorf("quantize: %w", err)
		}
		st.Quantized++
		st.OutBytes += size
	}
	return b, st, nil
}

// File quantizes in into a new file at path, written atomically: on
// error or cancellation there is neither a partial file nor a temporary
// one. in must stay open until File returns.
func File(ctx context.Context, in *gguf.File, path string, o Options) (Stats, error) {
	b, st, err := Plan(ctx, in, o)
	if err != nil {
		return st, err
	}
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := b.WriteTo(w)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("quantize: %w", err)
	}
	return st, nil
}

// quantizable is llama.cpp's choice of the tensors it quantizes: weights
// of two or more dimensions, except norms, the MoE routers and the
// position and token-type embeddings.
func quantizable(t *gguf.TensorInfo) bool {
	n := t.Name
	return strings.HasSuffix(n, "weight") && len(t.Dims) >= 2 &&
		!strings.Contains(n, "_norm.weight") &&
		!strings.Contains(n, "ffn_gate_inp.weight") &&
		n != "position_embd.weight" && n != "token_types.weight" &&
		!strings.Contains(n, "ssm_conv1d.weight") && !strings.Contains(n, "attn_rel_b.weight")
}

// modelInfo reads what the type rules need.
func modelInfo(f *gguf.File, arch string) (synth.ModelInfo, error) {
	var mi synth.ModelInfo
	layers, err := f.Uint(arch + ".block_count")
	if err != nil {
		return mi, fmt.Errorf("quantize: %w", err)
	}
	if layers > 1<<20 {
		return mi, fmt.Errorf("quantize: %s.block_count %d is not a model's", arch, layers)
	}
	mi.Layers = int(layers)
	experts, err := f.OptUint(arch+".expert_count", 0)
	if err != nil {
		return mi, fmt.Errorf("quantize: %w", err)
	}
	mi.Experts = int(min(experts, 1<<20))
	heads, _ := firstInt(f, arch+".attention.head_count")
	kv, ok := firstInt(f, arch+".attention.head_count_kv")
	if !ok {
		kv = heads
	}
	if heads > 0 && kv > 0 {
		mi.GQA = heads / kv
	}
	_, hasOutput := f.Tensor("output.weight")
	mi.Tied = !hasOutput
	return mi, nil
}

// firstInt reads a key holding one value or one per layer.
func firstInt(f *gguf.File, key string) (int, bool) {
	if !f.Has(key) {
		return 0, false
	}
	v, err := f.Ints(key)
	if err != nil || len(v) == 0 || v[0] < 0 || v[0] > 1<<20 {
		return 0, false
	}
	return int(v[0]), true
}

// convert writes src, rows of cols elements of type from, as type to,
// chunk by chunk, the rows of a chunk in parallel.
func convert(tr *tracker, w io.Writer, src []byte, from, to tensor.Type, cols, threads int) error {
	inRow, err := from.RowBytes(int64(cols))
	if err != nil {
		return err
	}
	outRow, err := to.RowBytes(int64(cols))
	if err != nil {
		return err
	}
	rows := len(src) / int(inRow)
	per := max(1, chunkBytes/int(outRow))
	buf := make([]byte, min(per, rows)*int(outRow))
	vals := make([][]float32, threads)
	for i := range vals {
		vals[i] = make([]float32, cols)
	}
	for lo := 0; lo < rows; lo += per {
		if err := tr.ctx.Err(); err != nil {
			return err
		}
		hi := min(rows, lo+per)
		n := hi - lo
		out := buf[:n*int(outRow)]
		var wg sync.WaitGroup
		errs := make([]error, threads)
		for th := range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := vals[th]
				for r := th; r < n; r += threads {
					row := src[(lo+r)*int(inRow) : (lo+r+1)*int(inRow)]
					if err := tensor.Dequantize(from, v, row); err != nil {
						errs[th] = err
						return
					}
					if err := quantizeRow(to, out[r*int(outRow):(r+1)*int(outRow)], v); err != nil {
						errs[th] = err
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
		tr.add(len(out))
	}
	return nil
}

// tracker carries a write's context and progress.
type tracker struct {
	ctx         context.Context
	done, total int64
	fn          func(done, total int64)
}

func (t *tracker) add(n int) {
	t.done += int64(n)
	if t.fn != nil {
		t.fn(t.done, t.total)
	}
}
