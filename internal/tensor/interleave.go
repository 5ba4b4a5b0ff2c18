package tensor

// The interleaved path of MatMul for several tokens and the signed
// 32-element formats (Q8_0, Q4_0, Q5_0, IQ4_NL; weights times Q8_0
// activations). Their per-row kernels spend most of their work not on
// the products but on reducing each block's eight partial sums and
// scaling them per row; with 8 rows interleaved, the accumulator's eight
// lanes are eight rows, so a block needs no reduction and its scales are
// applied eight rows at a time.
//
// A row chunk is repacked once per token chunk (it stays in L2 while
// every token passes over it), unless the matrix keeps a repacked copy
// (Interleave), into groups of 8 rows; a group holds, per
// block of 32 elements, ilBlockBytes bytes:
//
//	d[8]     float32: the 8 rows' scales
//	q[8][32] int8:    vector g (32 bytes) holds elements 4g..4g+3 of
//	                  rows 0..7, four bytes a row
//
// The weights are decoded to int8 there (nibbles, fifth bits and the
// IQ4_NL levels resolved), so one kernel serves every type: per vector it
// multiplies the four activations of each token, broadcast to all lanes,
// into the eight rows' sums.
//
// Each block's integer dot product is exact, and d_w*d_x is rounded as
// ggml rounds it, but the float sum over blocks runs in another order
// than the per-row kernels', so results differ from theirs in the last
// bits.

const (
	ilRows       = 8
	ilBlockBytes = 4*ilRows + ilRows*QK
	// ilMinTok is the fewest tokens MatMul takes the path for: the
	// repack, which also waits for the weights from memory, is not earned
	// back by four tokens: four-sequence decode (bench --parallel 4, Q8_0,
	// Qwen2.5-0.5B shape, AMD EPYC with AVX2) took 1.12-1.18x the CPU
	// time with it in three runs.
	ilMinTok = 8
)

// interleaved is the interleaved path of one type.
type interleaved struct {
	// repack writes groups groups of 8 rows (rows wrow bytes apart in w)
	// of nb blocks each to dst, groups*nb*ilBlockBytes bytes.
	repack func(dst, w []byte, wrow, groups, nb int)
	// rows4 computes out[t*ostride + r] for the 8*groups rows of the
	// repacked w8 and 4 tokens of Q8_0 activations, xrow bytes apart in
	// x, whose block scales are xd[t*nb + b] as float32.
	rows4 func(w8 []byte, groups, nb int, x []byte, xrow int, xd []float32, out []float32, ostride int)
}

// q8Scales sets xd[b] to the scale of block b of the Q8_0 row xq.
func q8Scales(xd []float32, xq []byte) {
	for b := range xd {
		xd[b] = fp16At(xq[b*q8_0Bytes:])
	}
}

// Interleave makes m keep a copy of its rows in the interleaved layout,
// so that products of four tokens and more (prompts, several sequences)
// take the interleaved path without repacking at every call, and from
// four tokens instead of ilMinTok. It reports whether m's type has the
// path on this CPU; when not, m is left as it was. The copy is
// InterleavedBytes(m) bytes beside Data, which MatMul still reads for
// single tokens and for the rows past the last whole group of 8. Call it
// before m is shared; m must be valid.
func (m *Matrix) Interleave() bool {
	il := ops[m.Type].il
	if il == nil || m.il != nil {
		return m.il != nil
	}
	groups, nb := m.Rows/ilRows, m.Cols/QK
	if groups == 0 {
		return false
	}
	w8 := make([]byte, groups*nb*ilBlockBytes)
	il.repack(w8, m.Data, m.rowBytes(), groups, nb)
	m.il = w8
	return true
}

// InterleavedBytes is the size of the copy Interleave keeps of m (0 when
// it keeps none).
func InterleavedBytes(m *Matrix) int64 { return int64(len(m.il)) }
