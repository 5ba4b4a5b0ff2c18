package chat

import (
	"math"
	"strconv"
	"strings"
)

// pyFloat formats f as Python's repr(float) does (and so json.dumps): the
// shortest digits that round-trip, in fixed notation with at least one
// fractional digit when the decimal exponent is in [-4, 16), otherwise in
// exponent notation with a sign and at least two exponent digits.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, exp, _ := strings.Cut(e, "e")
	x, _ := strconv.Atoi(exp)
	if x >= -4 && x < 16 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.ContainsAny(s, ".") {
			s += ".0"
		}
		return s
	}
	sign := "+"
	if x < 0 {
		sign = "-"
		x = -x
	}
	digits := strconv.Itoa(x)
	if len(digits) < 2 {
		digits = "0" + digits
	}
	return mant + "e" + sign + digits
}
