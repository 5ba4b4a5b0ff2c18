package grammar

import (
	"math"
	"strconv"
)

// typed compiles s as a value of type t (one of its types): keywords
// that constrain other types do not apply, as in JSON Schema.
func (c *compiler) typed(s *value, t string, in int32, path string) (int32, error) {
	n := c.n
	switch t {
	case "null":
		return n.lit(in, "null"), nil
	case "boolean":
		out := n.add()
		n.eps(n.lit(in, "true"), out)
		n.eps(n.lit(in, "false"), out)
		return out, nil
	case "integer", "number":
		b, err := numBounds(s, path)
		if err != nil {
			return 0, err
		}
		var expr string
		switch {
		case b.lo == nil && b.hi == nil && t == "integer":
			expr = intPattern
		case b.lo == nil && b.hi == nil:
			expr = numberPattern
		case t == "integer":
			expr = integerRange(b.intLo(), b.intHi())
		default:
			expr = numberRange(b)
		}
		if expr == "" {
			return n.add(), nil // empty range: nothing valid
		}
		return n.raw(in, expr), nil
	case "string":
		return c.stringSchema(s, in, path)
	case "array":
		return c.array(s, in, path)
	case "object":
		return c.objectSchema(s, in, path)
	}
	return 0, schemaErr(path, "type", "unknown type %q", t)
}

// numBounds reads minimum, maximum and their exclusive forms (numbers
// since draft 6, booleans in draft 4).
func numBounds(s *value, path string) (bounds, error) {
	var b bounds
	num := func(k string) (*float64, error) {
		v := s.get(k)
		if v == nil {
			return nil, nil
		}
		if v.kind == 'b' && (k == "exclusiveMinimum" || k == "exclusiveMaximum") {
			return nil, nil // draft 4 form, read below
		}
		if v.kind != 'n' {
			return nil, schemaErr(path, k, "must be a number")
		}
		f, err := strconv.ParseFloat(v.str, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, schemaErr(path, k, "%s is not a finite number", v.str)
		}
		return &f, nil
	}
	var err error
	if b.lo, err = num("minimum"); err != nil {
		return b, err
	}
	if b.hi, err = num("maximum"); err != nil {
		return b, err
	}
	if e := s.get("exclusiveMinimum"); e != nil && e.kind == 'b' {
		b.loExcl = e.b
	} else if x, err := num("exclusiveMinimum"); err != nil {
		return b, err
	} else if x != nil && (b.lo == nil || *x >= *b.lo) {
		b.lo, b.loExcl = x, true
	}
	if e := s.get("exclusiveMaximum"); e != nil && e.kind == 'b' {
		b.hiExcl = e.b
	} else if x, err := num("exclusiveMaximum"); err != nil {
		return b, err
	} else if x != nil && (b.hi == nil || *x <= *b.hi) {
		b.hi, b.hiExcl = x, true
	}
	return b, nil
}

// formats are the string formats generated, as anchored ASCII patterns
// that produce only valid instances (a subset: no leap seconds, no
// February 29, plain dot-atom e-mail addresses).
var formats = map[string]string{
	"date":      datePattern,
	"time":      timePattern,
	"date-time": datePattern + "T" + timePattern,
	"uuid":      `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`,
	"email":     `[a-zA-Z0-9_+-]{1,30}(\.[a-zA-Z0-9_+-]{1,16}){0,2}@[a-z0-9]{1,20}(\.[a-z0-9]{1,20}){1,3}`,
	"hostname":  `[a-z0-9]{1,20}(\.[a-z0-9]{1,20}){0,3}`,
	"ipv4":      `(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}`,
}

const (
	datePattern = `[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))`
	timePattern = `([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[-+]([01][0-9]|2[0-3]):[0-5][0-9])`
)

// stringSchema compiles a string with a format, a pattern, or lengths
// (combinations of these are refused: their intersection is not built).
func (c *compiler) stringSchema(s *value, in int32, path string) (int32, error) {
	n := c.n
	f, p := s.get("format"), s.get("pattern")
	minL, err := count(s, "minLength", path, maxUnroll)
	if err != nil {
		return 0, err
	}
	maxL, err := count(s, "maxLength", path, maxUnroll)
	if err != nil {
		return 0, err
	}
	if f != nil || p != nil {
		kw := "format"
		if f == nil {
			kw = "pattern"
		}
		if f != nil && p != nil {
			return 0, schemaErr(path, "pattern", "pattern beside format is not supported")
		}
		if minL >= 0 || maxL >= 0 {
			return 0, schemaErr(path, "minLength", "string lengths beside %s are not supported", kw)
		}
	}
	in = n.lit(in, `"`)
	switch {
	case f != nil:
		if f.kind != 's' {
			return 0, schemaErr(path, "format", "must be a string")
		}
		expr, ok := formats[f.str]
		if !ok {
			return 0, schemaErr(path, "format", "format %q is not supported (supported: date, time, date-time, uuid, email, hostname, ipv4)", f.str)
		}
		in = n.raw(in, expr)
	case p != nil:
		if p.kind != 's' {
			return 0, schemaErr(path, "pattern", "must be a string")
		}
		if in, err = n.pattern(in, p.str); err != nil {
			return 0, schemaErr(path, "pattern", "%v", err)
		}
	default:
		if minL < 0 {
			minL = 0
		}
		if maxL >= 0 && maxL < minL {
			return n.add(), nil
		}
		// Counted characters call one shared rule: two states each.
		for i := 0; i < minL; i++ {
			in = n.call(in, c.charRule())
		}
		if maxL < 0 {
			in = n.anyChars(in)
		} else {
			out := n.add()
			for i := minL; i < maxL; i++ {
				n.eps(in, out)
				in = n.call(in, c.charRule())
			}
			n.eps(in, out)
			in = out
		}
	}
	return n.lit(in, `"`), nil
}

// count reads a non-negative integer keyword, -1 when absent.
func count(s *value, k, path string, limit int) (int, error) {
	v := s.get(k)
	if v == nil {
		return -1, nil
	}
	if v.kind != 'n' || !isIntegral(v.str) {
		return 0, schemaErr(path, k, "must be a non-negative integer")
	}
	f, _ := strconv.ParseFloat(v.str, 64)
	if f < 0 {
		return 0, schemaErr(path, k, "must be a non-negative integer")
	}
	if f > float64(limit) {
		return 0, schemaErr(path, k, "%s above %d cannot be enforced", v.str, limit)
	}
	return int(f), nil
}
