package tensor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// iq3GaussRMSBound bounds the relative RMS error of the IQ3 quantizers
// on Gaussian rows. Measured over seven seeds of 32 super-blocks:
// IQ3_XXS 0.207 to 0.219, IQ3_S 0.165 to 0.169 (for scale: Q3_K 0.150 to 0.153,
// Q2_K 0.29, IQ4_XS 0.077). The bounds leave about 10% above the worst:
// misplaced grid indices or signs give errors of order 1.
var iq3GaussRMSBound = map[Type]float64{IQ3_XXS: 0.235, IQ3_S: 0.185}

func gaussRows(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func relRMS(x, y []float32) float64 {
	var se, sx float64
	for i := range x {
		d := float64(y[i] - x[i])
		se += d * d
		sx += float64(x[i]) * float64(x[i])
	}
	return math.Sqrt(se / sx)
}

// TestIQ3QuantizeGaussian quantizes Gaussian rows and dequantizes them:
// the error within the measured bounds, IQ3_S (3.44 bits per weight)
// better than IQ3_XXS (3.06), and the signs kept: IQ3_S stores every
// sign, IQ3_XXS all but at most one per group of eight, and only in a
// group with an odd number of negative values (the eighth sign it stores
// is the parity of the seven).
func TestIQ3QuantizeGaussian(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	x := gaussRows(r, 32*QKK)
	rms := map[Type]float64{}
	for _, typ := range []Type{IQ3_XXS, IQ3_S} {
		y := mustDequantize(t, typ, mustQuantize(t, typ, x), len(x))
		rms[typ] = relRMS(x, y)
		t.Logf("%s: relative RMS error %.4f", typ, rms[typ])
		if rms[typ] > iq3GaussRMSBound[typ] {
			t.Errorf("%s: relative RMS error %.4f > %.4f", typ, rms[typ], iq3GaussRMSBound[typ])
		}
		for g := 0; g < len(x); g += 8 {
			flipped, neg := 0, 0
			for i := g; i < g+8; i++ {
				if x[i] < 0 {
					neg++
				}
				if y[i] != 0 && (y[i] < 0) != (x[i] < 0) {
					flipped++
				}
			}
			if typ == IQ3_S && flipped != 0 || typ == IQ3_XXS && flipped > neg%2 {
				t.Fatalf("%s: group at %d: %d signs flipped (%d negative values): %v -> %v", typ, g, flipped, neg, x[g:g+8], y[g:g+8])
			}
		}
	}
	if rms[IQ3_S] >= rms[IQ3_XXS] {
		t.Errorf("IQ3_S error %.4f not below IQ3_XXS's %.4f", rms[IQ3_S], rms[IQ3_XXS])
	}
}

// TestIQ3Grids checks the quantizer's grid tables against the grids the
// kernels decode: every grid point's levels map back to its index, each
// off-grid lattice point's neighbours are exactly the grid points at its
// nwant smallest distances, in (distance, index) order.
func TestIQ3Grids(t *testing.T) {
	for _, c := range []struct {
		typ   Type
		nwant int
		grid  []uint32
	}{{IQ3_XXS, 2, iq3xxsGrid[:]}, {IQ3_S, 3, iq3sGrid[:]}} {
		g := iq3GridFor(c.typ)
		if len(g.levels) != len(c.grid) {
			t.Fatalf("%s: %d grid points, want %d", c.typ, len(g.levels), len(c.grid))
		}
		on := 0
		for k, l := range g.levels {
			for i := range 4 {
				v := uint8(c.grid[k] >> (8 * i))
				want := 2*l[i] + 1 // IQ3_S stores 2l+1
				if c.typ == IQ3_XXS {
					want = 4 + 8*l[i] // IQ3_XXS 4+8l, 62 for l = 7
					if l[i] == 7 {
						want = 62
					}
				}
				if l[i] < 0 || l[i] > 7 || int8(v) != want {
					t.Fatalf("%s: grid point %d: levels %v, grid bytes %08x", c.typ, k, l, c.grid[k])
				}
			}
			if idx := g.index[iq3LatticeIndex(l[:])]; int(idx) != k {
				t.Fatalf("%s: grid point %d maps to %d", c.typ, k, idx)
			}
		}
		dist := func(u int, k uint16) int {
			d := 0
			for i := range 4 {
				e := 2 * (int(g.levels[k][i]) - u>>(3*i)&7)
				d += e * e
			}
			return d
		}
		for u, idx := range g.index {
			if idx >= 0 {
				on++
				continue
			}
			nb := g.neighbours[u]
			var ds []int
			for k := range g.levels {
				ds = append(ds, dist(u, uint16(k)))
			}
			slices.Sort(ds)
			ds = slices.Compact(ds)
			var want []uint16
			for k := range g.levels {
				if d := dist(u, uint16(k)); d <= ds[c.nwant-1] {
					want = append(want, uint16(k))
				}
			}
			slices.SortStableFunc(want, func(a, b uint16) int { return dist(u, a) - dist(u, b) })
			if !slices.Equal(nb, want) {
				t.Fatalf("%s: lattice point %#o: neighbours %v, want %v", c.typ, u, nb, want)
			}
		}
		if on != len(c.grid) {
			t.Errorf("%s: %d lattice points on the grid, want %d", c.typ, on, len(c.grid))
		}
	}
}

// TestIQ3SubBlockOnGrid checks, for Gaussian, outlier and sparse
// sub-blocks, that the quantizer ends on grid points: each group's levels
// are a grid point's and the index is that point (an off-grid index would
// be stored as a valid but wrong one).
func TestIQ3SubBlockOnGrid(t *testing.T) {
	r := rand.New(rand.NewPCG(53, 54))
	var s iq3SubBlock
	for _, typ := range []Type{IQ3_XXS, IQ3_S} {
		g := iq3GridFor(typ)
		for n := range 300 {
			xb := gaussRows(r, 32)
			switch n % 3 {
			case 1:
				xb[r.IntN(32)] *= 30
			case 2:
				for i := range xb {
					if r.IntN(4) != 0 {
						xb[i] = 0
					}
				}
			}
			scale, ok := s.quantize(g, xb, typ == IQ3_XXS)
			if !ok || !(scale > 0) {
				t.Fatalf("%s: sub-block %v: scale %g, ok %v", typ, xb, scale, ok)
			}
			for k, idx := range s.index {
				if idx < 0 || idx >= len(g.levels) || g.levels[idx] != [4]int8(s.L[4*k:4*k+4]) {
					t.Fatalf("%s: group %d: index %d for levels %v", typ, k, idx, s.L[4*k:4*k+4])
				}
			}
		}
	}
}

// TestIQ3QuantizeSpecialRows: all-zero rows give all-zero blocks;
// constant rows come back finite and roughly right; values too small or
// too large for the F16 scale and non-finite ones give output without
// panicking.
func TestIQ3QuantizeSpecialRows(t *testing.T) {
	for _, typ := range []Type{IQ3_XXS, IQ3_S} {
		b := mustQuantize(t, typ, make([]float32, 2*QKK))
		for i, v := range b {
			if v != 0 {
				t.Fatalf("%s: zero row: byte %d = %#x", typ, i, v)
			}
		}
		for _, c := range []float32{1, -1, 0.37, -1e-3, 3e4, 1e-9, -3e38} {
			x := make([]float32, QKK)
			for i := range x {
				x[i] = c
			}
			y := mustDequantize(t, typ, mustQuantize(t, typ, x), len(x))
			if a := math.Abs(float64(c)); a > 1e5 || a < 1e-6 {
				continue // the F16 scale overflows or is 0
			}
			for i, v := range y {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s: constant %g: element %d = %g", typ, c, i, v)
				}
			}
			// The scale search tries only the top levels (6 and 7 for the
			// largest value), and neither grid has the points (6,6,6,6)
			// and (7,7,7,7): a constant comes back as a mix of levels
			// around it (measured: 0.171 IQ3_XXS, 0.159 IQ3_S).
			if e := relRMS(x, y); e > 0.2 {
				t.Errorf("%s: constant %g: relative RMS error %.3f", typ, c, e)
			}
		}
		r := rand.New(rand.NewPCG(55, 56))
		x := gaussRows(r, QKK)
		x[3] = float32(math.NaN())
		x[40] = float32(math.Inf(1))
		x[77] = float32(math.Inf(-1))
		x[100] = 3e38
		mustDequantize(t, typ, mustQuantize(t, typ, x), len(x))
	}
}

// TestIQ3ZeroSubBlock: an all-zero sub-block leaves the others where
// they belong (llama.cpp's IQ3_S writes the later ones one place early)
// and the row still decodes within the Gaussian bound.
func TestIQ3ZeroSubBlock(t *testing.T) {
	r := rand.New(rand.NewPCG(55, 56))
	x := gaussRows(r, QKK)
	full := slices.Clone(x)
	clear(x[64:96]) // sub-block 2
	for _, typ := range []Type{IQ3_XXS, IQ3_S} {
		y := mustDequantize(t, typ, mustQuantize(t, typ, x), len(x))
		if e := relRMS(x, y); e > iq3GaussRMSBound[typ] {
			t.Errorf("%s: relative RMS error %.3f", typ, e)
		}
	}
	b, bf := mustQuantize(t, IQ3_S, x), mustQuantize(t, IQ3_S, full)
	qs, qh, signs := b[2:66], b[66:74], b[74:106]
	fqs, fqh, fsigns := bf[2:66], bf[66:74], bf[74:106]
	for ib := range 8 {
		wantQS, wantSigns, wantQH := fqs[8*ib:8*ib+8], fsigns[4*ib:4*ib+4], fqh[ib]
		if ib == 2 {
			wantQS, wantSigns, wantQH = make([]byte, 8), make([]byte, 4), 0
		}
		if !slices.Equal(qs[8*ib:8*ib+8], wantQS) || !slices.Equal(signs[4*ib:4*ib+4], wantSigns) || qh[ib] != wantQH {
			t.Errorf("IQ3_S sub-block %d: qs % x signs % x qh %#x, want % x, % x, %#x",
				ib, qs[8*ib:8*ib+8], signs[4*ib:4*ib+4], qh[ib], wantQS, wantSigns, wantQH)
		}
	}
}

// TestFmaFast checks fmaFast's shortcut against fma32 on random operands
// and on ones whose float64 sum lies halfway between two float32 values.
func TestFmaFast(t *testing.T) {
	r := rand.New(rand.NewPCG(57, 58))
	for n := range 200000 {
		a := float32(r.NormFloat64())
		b := float32(r.IntN(16))
		c := float32(r.NormFloat64())
		if n%2 == 1 {
			b = float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(40)-20)))
			c = float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(40)-20)))
		}
		if n%5 == 0 {
			c = -float32(float64(a) * float64(b)) // sums near zero
		}
		if r, ok := fmaFast(a, b, c); ok && math.Float32bits(r) != math.Float32bits(fma32(a, b, c)) {
			t.Fatalf("fmaFast(%g, %g, %g) = %g, fma32 %g", a, b, c, r, fma32(a, b, c))
		}
		if got, want := fmaq(a, b, c), fma32(a, b, c); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fmaq(%g, %g, %g) = %g, fma32 %g", a, b, c, got, want)
		}
	}
}
