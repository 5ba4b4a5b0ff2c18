package grammar

import (
	"fmt"
	"math"
	"regexp/syntax"
	"strconv"
	"strings"
)

// Numbers follow llama.cpp's json-schema-to-grammar: an integral part of
// at most 16 digits, a fraction of at most 16, and an exponent of at
// most 2 digits (so no output overflows a float64), never a leading zero.
const (
	maxIntDigits  = 16
	maxIntValue   = 9_999_999_999_999_999 // 16 nines
	numberPattern = `-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,16})?([eE][-+]?[0-9]{1,2})?`
	intPattern    = `-?(0|[1-9][0-9]{0,15})`
	fracPattern   = `\.[0-9]{1,16}`
)

// raw appends the regular expression expr over plain bytes (numbers and
// formats are ASCII, which needs no JSON escaping).
func (n *nfa) raw(in int32, expr string) int32 {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		panic(fmt.Sprintf("grammar: internal pattern %q: %v", expr, err))
	}
	out, err := n.regex(in, re)
	if err != nil {
		panic(fmt.Sprintf("grammar: internal pattern %q: %v", expr, err))
	}
	return out
}

// bounds are a numeric schema's limits; nil means none.
type bounds struct {
	lo, hi         *float64
	loExcl, hiExcl bool
}

// intLo is the smallest integer the lower bound allows, clamped to what
// the grammar can spell; intHi likewise.
func (b bounds) intLo() int64 {
	if b.lo == nil || *b.lo < -maxIntValue {
		return -maxIntValue
	}
	c := math.Ceil(*b.lo)
	if b.loExcl && c == *b.lo {
		c++
	}
	if c > maxIntValue {
		return maxIntValue + 1 // empty
	}
	return int64(c)
}

func (b bounds) intHi() int64 {
	if b.hi == nil || *b.hi > maxIntValue {
		return maxIntValue
	}
	f := math.Floor(*b.hi)
	if b.hiExcl && f == *b.hi {
		f--
	}
	if f < -maxIntValue {
		return -maxIntValue - 1 // empty
	}
	return int64(f)
}

// integerRange is a regular expression for the integers lo..hi, or ""
// when there are none.
func integerRange(lo, hi int64) string {
	if lo > hi {
		return ""
	}
	var alts []string
	if lo < 0 {
		nhi := hi
		if nhi > -1 {
			nhi = -1
		}
		alts = append(alts, "-("+naturalRange(-nhi, -lo)+")")
	}
	if hi >= 0 {
		nlo := lo
		if nlo < 0 {
			nlo = 0
		}
		alts = append(alts, naturalRange(nlo, hi))
	}
	return strings.Join(alts, "|")
}

// numberRange is a regular expression for decimal numbers (no exponent)
// within b: whole numbers in range, and numbers with a fraction whose
// integral part keeps every fraction inside the bounds.
func numberRange(b bounds) string {
	lo, hi := b.intLo(), b.intHi()
	alts := []string{}
	if r := integerRange(lo, hi); r != "" {
		alts = append(alts, "("+r+")")
	}
	// I.f with I >= 0 lies in [I, I+1): needs I >= lo and I+1 <= hi.
	fhi := hi
	if b.hi != nil && *b.hi <= maxIntValue {
		fhi = int64(math.Floor(*b.hi)) - 1
	}
	plo := lo
	if plo < 0 {
		plo = 0
	}
	if plo <= fhi {
		alts = append(alts, "("+naturalRange(plo, fhi)+")"+fracPattern)
	}
	// -I.f lies in (-(I+1), -I]: needs -(I+1) >= lo and -I <= hi
	// (-I < hi when hi is exclusive).
	nhi := int64(maxIntValue)
	if b.lo != nil && *b.lo >= -maxIntValue {
		nhi = int64(math.Floor(-*b.lo)) - 1
	}
	nlo := int64(0)
	if b.hi != nil {
		c := math.Ceil(-*b.hi)
		if b.hiExcl && c == -*b.hi {
			c++
		}
		if c > maxIntValue {
			c = maxIntValue + 1
		}
		if c > 0 {
			nlo = int64(c)
		}
	}
	if nlo <= nhi {
		alts = append(alts, "-("+naturalRange(nlo, nhi)+")"+fracPattern)
	}
	return strings.Join(alts, "|")
}

// naturalRange is a regular expression for the integers lo..hi, 0 <= lo
// <= hi, spelled without leading zeros.
func naturalRange(lo, hi int64) string {
	var alts []string
	for digits := len(strconv.FormatInt(lo, 10)); digits <= len(strconv.FormatInt(hi, 10)); digits++ {
		a, b := lo, hi
		if first := pow10(digits - 1); digits > 1 && a < first {
			a = first
		}
		if last := pow10(digits) - 1; b > last {
			b = last
		}
		if a > b {
			continue
		}
		alts = append(alts, sameLength(strconv.FormatInt(a, 10), strconv.FormatInt(b, 10))...)
	}
	return strings.Join(alts, "|")
}

func pow10(n int) int64 {
	p := int64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

// sameLength covers x..y, two numbers of the same number of digits.
func sameLength(x, y string) []string {
	if x == "" {
		return []string{""}
	}
	if x[0] == y[0] {
		var out []string
		for _, s := range sameLength(x[1:], y[1:]) {
			out = append(out, x[:1]+s)
		}
		return out
	}
	rest := len(x) - 1
	if strings.Trim(x[1:], "0") == "" && strings.Trim(y[1:], "9") == "" {
		return []string{digitClass(x[0], y[0]) + anyDigits(rest)}
	}
	var out []string
	for _, s := range sameLength(x[1:], strings.Repeat("9", rest)) {
		out = append(out, x[:1]+s)
	}
	if x[0]+1 <= y[0]-1 {
		out = append(out, digitClass(x[0]+1, y[0]-1)+anyDigits(rest))
	}
	for _, s := range sameLength(strings.Repeat("0", rest), y[1:]) {
		out = append(out, y[:1]+s)
	}
	return out
}

func digitClass(a, b byte) string {
	if a == b {
		return string(a)
	}
	return "[" + string(a) + "-" + string(b) + "]"
}

func anyDigits(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "[0-9]"
	}
	return fmt.Sprintf("[0-9]{%d}", n)
}
