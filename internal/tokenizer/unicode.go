package tokenizer

import (
	"sync"
	"unicode"
)

// cpFlags classifies a code point the way llama.cpp's unicode tables do: one
// general category (letter, number, ...) plus whitespace. The pre-tokenizers
// use nothing else, so matching llama.cpp's tables here is what makes the
// splits match.
type cpFlags uint16

const (
	fUndefined  cpFlags = 1 << iota // unassigned (Cn)
	fNumber                         // \p{N}
	fLetter                         // \p{L}
	fSeparator                      // \p{Z}
	fMark                           // \p{M}
	fPunct                          // \p{P}
	fSymbol                         // \p{S}
	fControl                        // \p{C} other than Cn: Cc, Cf, Cs, Co
	fWhitespace                     // \s: Unicode White_Space
)

func (f cpFlags) is(g cpFlags) bool { return f&g != 0 }

// llama.cpp's tables follow Unicode 15.1; Go's unicode package is at 15.0.0
// (TestUnicodeVersion watches for a change). 15.1 assigned only these
// code points, so patching them makes the two agree.
var unicode151 = []struct {
	lo, hi rune
	f      cpFlags
}{
	{0x2FFC, 0x2FFF, fSymbol},   // ideographic description characters
	{0x31EF, 0x31EF, fSymbol},   // CJK stroke HXG
	{0x2EBF0, 0x2EE5D, fLetter}, // CJK Unified Ideographs Extension I
}

func computeFlags(r rune) cpFlags {
	var f cpFlags
	switch {
	case r < 0 || r > unicode.MaxRune:
		return fUndefined
	case unicode.Is(unicode.L, r):
		f = fLetter
	case unicode.Is(unicode.N, r):
		f = fNumber
	case unicode.Is(unicode.M, r):
		f = fMark
	case unicode.Is(unicode.P, r):
		f = fPunct
	case unicode.Is(unicode.S, r):
		f = fSymbol
	case unicode.Is(unicode.Z, r):
		f = fSeparator
	case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs):
		// Not unicode.C, which also holds unassigned code points.
		f = fControl
	default:
		f = fUndefined
		for _, p := range unicode151 {
			if p.lo <= r && r <= p.hi {
				f = p.f
			}
		}
	}
	if unicode.Is(unicode.White_Space, r) {
		f |= fWhitespace
	}
	return f
}

// bmpFlags caches computeFlags for the Basic Multilingual Plane, where
// nearly all text lives; built on first use (about a millisecond).
var bmpFlags = sync.OnceValue(func() *[0x10000]cpFlags {
	var t [0x10000]cpFlags
	for r := range t {
		t[r] = computeFlags(rune(r))
	}
	return &t
})

func flagsOf(r rune) cpFlags {
	if r >= 0 && r < 0x10000 {
		return bmpFlags()[r]
	}
	return computeFlags(r)
}

// decodeRune decodes one code point at s[i:] like llama.cpp's
// unicode_cpt_from_utf8, which is laxer than Go's utf8 package: it takes
// overlong forms and surrogates as they are, and it turns every other
// invalid byte into U+FFFD, consuming one byte.
func decodeRune(s string, i int) (rune, int) {
	b0 := s[i]
	switch {
	case b0 < 0x80:
		return rune(b0), 1
	case b0&0x40 == 0: // stray continuation byte
		return 0xFFFD, 1
	case b0&0x20 == 0:
		if i+1 < len(s) && isCont(s[i+1]) {
			return rune(b0&0x1f)<<6 | rune(s[i+1]&0x3f), 2
		}
	case b0&0x10 == 0:
		if i+2 < len(s) && isCont(s[i+1]) && isCont(s[i+2]) {
			return rune(b0&0x0f)<<12 | rune(s[i+1]&0x3f)<<6 | rune(s[i+2]&0x3f), 3
		}
	case b0&0x08 == 0:
		if i+3 < len(s) && isCont(s[i+1]) && isCont(s[i+2]) && isCont(s[i+3]) {
			return rune(b0&0x07)<<18 | rune(s[i+1]&0x3f)<<12 | rune(s[i+2]&0x3f)<<6 | rune(s[i+3]&0x3f), 4
		}
	}
	return 0xFFFD, 1
}

func isCont(b byte) bool { return b&0xC0 == 0x80 }

// decodeRunes decodes s with decodeRune.
func decodeRunes(s string, buf []rune) []rune {
	buf = buf[:0]
	for i := 0; i < len(s); {
		r, n := decodeRune(s, i)
		buf = append(buf, r)
		i += n
	}
	return buf
}

// appendRune encodes r like llama.cpp's unicode_cpt_to_utf8: surrogates are
// encoded as they are (so they round-trip through decodeRune), unlike Go's
// utf8.AppendRune. Values beyond U+10FFFF, which llama.cpp rejects with an
// exception, become U+FFFD.
func appendRune(b []byte, r rune) []byte {
	switch {
	case r < 0:
		r = 0xFFFD
	case r <= 0x7f:
		return append(b, byte(r))
	case r <= 0x7ff:
		return append(b, 0xc0|byte(r>>6), 0x80|byte(r)&0x3f)
	case r <= 0xffff:
		return append(b, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
	case r <= unicode.MaxRune:
		return append(b, 0xf0|byte(r>>18), 0x80|byte(r>>12)&0x3f, 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
	default:
		r = 0xFFFD
	}
	return appendRune(b, r)
}

// utf8Len is llama.cpp's unicode_len_utf8: the sequence length announced
// by a lead byte, 1 for anything else. The SentencePiece tokenizer splits
// its input into "characters" with it, without validating.
func utf8Len(b byte) int {
	switch b >> 4 {
	case 0xC, 0xD:
		return 2
	case 0xE:
		return 3
	case 0xF:
		return 4
	}
	return 1
}

// GPT-2's byte-level BPE works on text where every byte is replaced by a
// printable code point: the printable Latin-1 bytes stand for themselves,
// the others (controls, space, 0x7F-0xA0, 0xAD) are moved to U+0100 and
// up, in byte order. So a space becomes "Ġ" (U+0120) and "\n" "Ċ".
var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
)

func init() {
	n := rune(0)
	for b := 0; b < 256; b++ {
		if (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = 256 + n
			n++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}
