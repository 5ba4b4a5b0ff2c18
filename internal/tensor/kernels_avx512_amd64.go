//go:build !purego

package tensor

import (
	"sync"

	"golang.org/x/sys/cpu"
)

// Most integer AVX-512 kernels use 256-bit registers (AVX512VL): on Zen 4
// a 512-bit instruction takes two 256-bit pipes, so wider registers would
// save decode bandwidth, not execution, and on some Intel parts they lower
// the clock. What they gain over AVX2 is VNNI's VPDPBUSD (a u8 x s8
// multiply-add of four byte pairs into int32 lanes), embedded broadcasts,
// mask registers (a Q5_0 block's fifth bits are one KMOVD) and sixteen
// more registers. Zen 5 executes 512-bit instructions in one pass, and
// there the kernels that went to 512 bits gained: the interleaved kernel
// (two groups of 8 rows a register) 1.57x, and the four-token float
// kernels' 512-bit twins 1.75-1.9x the 256-bit kernels' F16 and BF16
// products (BenchmarkInterleaved, BenchmarkRows, in cache).
var haveAVX512 = haveAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW &&
	cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI

// installAVX512 puts into table, which holds the AVX2 set, the AVX-512
// kernels that measurably beat the AVX2 ones on Zen 4 (BenchmarkRows, one
// thread, data in cache; BenchmarkQwen end to end):
//
//   - four tokens (prompts): Q8_0, Q4_0, Q5_0 about 2.1-2.3x through the
//     interleaved activation table; Q4_K, Q5_K, Q6_K 1.15-1.3x with
//     VPDPWSSD (on Zen 5: Q3_K 1.35x, IQ4_XS 1.16x, Q2_K 1.12x); F32,
//     F16, BF16 1.15-1.5x with four weight rows a pass;
//   - one token (decoding): Q5_0 1.6x, Q4_0 1.5x, Q6_K 1.25x.
//
// The one-token Q8_0, Q4_K and Q5_K kernels tried gained nothing
// measurable and were dropped; Q4_1, Q5_1 and the activation quantizers
// (about 1.5% of a prompt's time) keep their AVX2 kernels. From 8 tokens
// Q8_0, Q4_0, Q5_0 and IQ4_NL take the interleaved path with its VNNI
// kernel (interleave_avx512_amd64.s): on Zen 5, 16 tokens with the repack
// did 1.14-1.35x the table kernels above, 2.7x the IQ4_NL row kernel.
func installAVX512(table *opsTable) {
	for _, k := range []struct {
		t     Type
		shift int // log2 of the offset the weights are unpacked without
		k1    kernel1T
		k4    kernel4T
	}{
		{Q8_0, 7, nil, dotQ8_0x4VNNI},
		{Q4_0, 3, dotQ4_0x1VNNI, dotQ4_0x4VNNI},
		{Q5_0, 4, dotQ5_0x1VNNI, dotQ5_0x4VNNI},
	} {
		o := &table[k.t]
		o.rows = tableRows(k.t, k.shift, o.rows, k.k1, k.k4)
	}
	for _, k := range []struct {
		t  Type
		k1 kernel1
		k4 kernel4
	}{
		{Q2_K, dotQ2_Kx1AVX2, dotQ2_Kx4VNNI},
		{Q3_K, dotQ3_Kx1AVX2, dotQ3_Kx4VNNI},
		{IQ4_XS, dotIQ4_XSx1AVX2, dotIQ4_XSx4VNNI},
		{Q4_K, dotQ4_Kx1AVX2, dotQ4_Kx4VNNI},
		{Q5_K, dotQ5_Kx1AVX2, dotQ5_Kx4VNNI},
		{Q6_K, dotQ6_Kx1VNNI, dotQ6_Kx4VNNI},
	} {
		o := &table[k.t]
		o.dot = asmDot(k.t, o.dotType, k.k1)
		o.rows = asmRows(k.t, o.dotType, k.k1, k.k4)
	}
	for _, k := range []struct {
		t       Type
		es      int // bytes per weight
		k4, k4z kernel4
	}{
		{F32, 4, dotF32x4R4, dotF32x4R4Z},
		{F16, 2, dotF16x4R4, dotF16x4R4Z},
		{BF16, 2, dotBF16x4R4, dotBF16x4R4Z},
	} {
		o := &table[k.t]
		o.rows = quadRows(k.es, o.rows, k.k4, k.k4z)
	}
	installInterleavedVNNI(table)
}

// quadRows wraps a four-token float kernel that takes weight rows (of es
// bytes per element) in fours and lengths in multiples of 8, and its
// 512-bit twin k4z for multiples of 16; fallback computes the rest.
func quadRows(es int, fallback dotRows, k4, k4z kernel4) dotRows {
	return func(n int, w []byte, wrow, rows int, x []byte, xrow, ntok int, out []float32, ostride int) {
		quads := rows / 4
		if ntok != 4 || n == 0 || n%8 != 0 || quads == 0 {
			fallback(n, w, wrow, rows, x, xrow, ntok, out, ostride)
			return
		}
		_, _ = w[(4*quads-1)*wrow+n*es-1], x[3*xrow+4*n-1]
		_ = out[3*ostride+4*quads-1]
		k := k4
		if n%16 == 0 {
			k = k4z
		}
		k(&w[0], uintptr(wrow), quads, &x[0], uintptr(xrow), n, &out[0], uintptr(ostride))
		if r := 4 * quads; r < rows {
			fallback(n, w[r*wrow:], wrow, rows-r, x, xrow, ntok, out[r:], ostride)
		}
	}
}

// Kernels that read their activations through a table built per call
// (see q32_avx512_amd64.s): x1 computes dst[r] for r < rows from the
// activation row x and its table t; x4 computes dst[i*dstride + r] for
// four tokens from their table alone.
type (
	kernel1T func(w *byte, wstride uintptr, rows int, x, t *byte, nb int, dst *float32)
	kernel4T func(w *byte, wstride uintptr, rows int, t *byte, nb int, dst *float32, dstride uintptr)
)

// Bytes per block of the activation tables.
const (
	table1Bytes = 8
	table4Bytes = 176
)

// tables recycles the activation tables (176 bytes per block of four
// tokens, 8 per block of one): a call builds one and is done with it
// before it returns.
var tables = sync.Pool{New: func() any { return new([]byte) }}

func getTable(n int) *[]byte {
	b := tables.Get().(*[]byte)
	if cap(*b) < n {
		*b = make([]byte, n)
	}
	*b = (*b)[:n]
	return b
}

// tableRows wraps table kernels for weights of type t (with Q8_0
// activations) as a dotRows; fallback handles what they do not (one
// token when k1 is nil, two or three tokens).
func tableRows(t Type, shift int, fallback dotRows, k1 kernel1T, k4 kernel4T) dotRows {
	bs, bb, xbb := t.BlockSize(), t.BlockBytes(), q8_0Bytes
	return func(n int, w []byte, wrow, rows int, x []byte, xrow, ntok int, out []float32, ostride int) {
		nb := n / bs
		if nb == 0 || rows == 0 || (ntok != 4 && (ntok != 1 || k1 == nil)) {
			fallback(n, w, wrow, rows, x, xrow, ntok, out, ostride)
			return
		}
		_, _ = w[(rows-1)*wrow+nb*bb-1], x[(ntok-1)*xrow+nb*xbb-1]
		_ = out[(ntok-1)*ostride+rows-1]
		if ntok == 4 {
			tb := getTable(nb * table4Bytes)
			prepQ8_0x4(&x[0], uintptr(xrow), nb, shift, &(*tb)[0])
			k4(&w[0], uintptr(wrow), rows, &(*tb)[0], nb, &out[0], uintptr(ostride))
			tables.Put(tb)
			return
		}
		tb := getTable(nb * table1Bytes)
		prepQ8_0x1(&x[0], nb, shift, &(*tb)[0])
		k1(&w[0], uintptr(wrow), rows, &x[0], &(*tb)[0], nb, &out[0])
		tables.Put(tb)
	}
}

//go:noescape
func prepQ8_0x4(x *byte, xstride uintptr, nb int, shift int, t *byte)

//go:noescape
func prepQ8_0x1(x *byte, nb int, shift int, t *byte)

//go:noescape
func dotQ8_0x4VNNI(w *byte, wstride uintptr, rows int, t *byte, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ4_0x4VNNI(w *byte, wstride uintptr, rows int, t *byte, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ5_0x4VNNI(w *byte, wstride uintptr, rows int, t *byte, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ4_0x1VNNI(w *byte, wstride uintptr, rows int, x, t *byte, nb int, dst *float32)

//go:noescape
func dotQ5_0x1VNNI(w *byte, wstride uintptr, rows int, x, t *byte, nb int, dst *float32)

//go:noescape
func dotQ4_Kx4VNNI(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ5_Kx4VNNI(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ6_Kx1VNNI(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ6_Kx4VNNI(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotF32x4R4(w *byte, wstride uintptr, quads int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)

//go:noescape
func dotF16x4R4(w *byte, wstride uintptr, quads int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)

//go:noescape
func dotBF16x4R4(w *byte, wstride uintptr, quads int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)

//go:noescape
func dotF32x4R4Z(w *byte, wstride uintptr, quads int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)

//go:noescape
func dotF16x4R4Z(w *byte, wstride uintptr, quads int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)

//go:noescape
func dotBF16x4R4Z(w *byte, wstride uintptr, quads int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)

//go:noescape
func dotQ3_Kx4VNNI(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ2_Kx4VNNI(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotIQ4_XSx4VNNI(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
