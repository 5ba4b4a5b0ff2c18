package grammar

import "fmt"

// flatten turns a schema with allOf (and a $ref beside other keywords)
// into one schema by inlining the referenced and conjoined schemas and
// merging their keywords: properties are united (a property in several
// becomes the allOf of its schemas), required lists united, types
// intersected, lower bounds raised and upper bounds lowered; any other
// keyword given differently twice is refused, naming it.
func (c *compiler) flatten(s *value, path string, depth int) (*value, error) {
	if depth > maxMerge {
		return nil, schemaErr(path, "allOf", "allOf/$ref nested more than %d deep", maxMerge)
	}
	if c.merges++; c.merges > maxMerges {
		return nil, schemaErr(path, "allOf", "allOf/$ref inlining would copy more than %d schemas", maxMerges)
	}
	if s.kind == 'b' {
		if s.b {
			return &value{kind: 'o'}, nil
		}
		return nil, schemaErr(path, "allOf", "a false schema inside allOf: no value is valid")
	}
	if s.kind != 'o' {
		return nil, schemaErr(path, "allOf", "members must be schemas")
	}
	acc := without(s, "allOf", "$ref")
	if ref := s.get("$ref"); ref != nil {
		if ref.kind != 's' {
			return nil, schemaErr(path, "$ref", "must be a string")
		}
		t, err := c.resolve(ref.str, path)
		if err != nil {
			return nil, err
		}
		ft, err := c.flatten(t, path, depth+1)
		if err != nil {
			return nil, err
		}
		if acc, err = merge(acc, ft, path); err != nil {
			return nil, err
		}
	}
	if all := s.get("allOf"); all != nil {
		if all.kind != 'a' {
			return nil, schemaErr(path, "allOf", "must be an array of schemas")
		}
		for i, m := range all.vals {
			fm, err := c.flatten(m, fmt.Sprintf("%s/allOf/%d", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			if acc, err = merge(acc, fm, path); err != nil {
				return nil, err
			}
		}
	}
	return acc, nil
}

func merge(a, b *value, path string) (*value, error) {
	if err := closedTo(a, b, path); err != nil {
		return nil, err
	}
	if err := closedTo(b, a, path); err != nil {
		return nil, err
	}
	out := without(a)
	for i, k := range b.keys {
		bv := b.vals[i]
		av := out.get(k)
		if av == nil {
			out.set(k, bv)
			continue
		}
		if av.text() == bv.text() || annotations[k] {
			continue
		}
		switch k {
		case "properties":
			if av.kind != 'o' || bv.kind != 'o' {
				return nil, schemaErr(path, k, "must be an object")
			}
			m := without(av)
			for j, p := range bv.keys {
				if prev := m.get(p); prev != nil {
					m.set(p, &value{kind: 'o', keys: []string{"allOf"}, vals: []*value{{kind: 'a', vals: []*value{prev, bv.vals[j]}}}})
				} else {
					m.set(p, bv.vals[j])
				}
			}
			out.set(k, m)
		case "required":
			if av.kind != 'a' || bv.kind != 'a' {
				return nil, schemaErr(path, k, "must be an array of strings")
			}
			m := &value{kind: 'a', vals: append([]*value(nil), av.vals...)}
			seen := map[string]bool{}
			for _, e := range av.vals {
				seen[e.text()] = true
			}
			for _, e := range bv.vals {
				if !seen[e.text()] {
					m.vals = append(m.vals, e)
				}
			}
			out.set(k, m)
		case "type":
			ta, err := schemaTypes(&value{kind: 'o', keys: []string{"type"}, vals: []*value{av}}, path)
			if err != nil {
				return nil, err
			}
			tb, err := schemaTypes(&value{kind: 'o', keys: []string{"type"}, vals: []*value{bv}}, path)
			if err != nil {
				return nil, err
			}
			t := &value{kind: 'a'}
			for _, x := range ta {
				for _, y := range tb {
					switch {
					case x == y:
						t.vals = append(t.vals, &value{kind: 's', str: x})
					case x == "number" && y == "integer", x == "integer" && y == "number":
						t.vals = append(t.vals, &value{kind: 's', str: "integer"})
					}
				}
			}
			if len(t.vals) == 0 {
				return nil, schemaErr(path, "type", "allOf members allow no common type")
			}
			out.set(k, t)
		case "minimum", "exclusiveMinimum", "minLength", "minItems":
			if av.kind != 'n' || bv.kind != 'n' {
				return nil, schemaErr(path, k, "must be a number")
			}
			if numLess(av.str, bv.str) {
				out.set(k, bv)
			}
		case "maximum", "exclusiveMaximum", "maxLength", "maxItems":
			if av.kind != 'n' || bv.kind != 'n' {
				return nil, schemaErr(path, k, "must be a number")
			}
			if numLess(bv.str, av.str) {
				out.set(k, bv)
			}
		default:
			return nil, schemaErr(path, k, "allOf members give it different values; only properties, required, type and bounds are merged")
		}
	}
	return out, nil
}

func numLess(a, b string) bool {
	var x, y float64
	fmt.Sscan(a, &x)
	fmt.Sscan(b, &y)
	return x < y
}

// closedTo refuses to merge b into a when a's additionalProperties (false
// or a schema) would judge properties that b declares or requires but a
// does not: the merged schema would generate them under b's schema alone.
func closedTo(a, b *value, path string) error {
	add := a.get("additionalProperties")
	if add == nil || (add.kind == 'b' && add.b) {
		return nil
	}
	props := a.get("properties")
	var names []string
	if p := b.get("properties"); p != nil && p.kind == 'o' {
		names = append(names, p.keys...)
	}
	if r := b.get("required"); r != nil && r.kind == 'a' {
		for _, e := range r.vals {
			names = append(names, e.str)
		}
	}
	for _, name := range names {
		if props.get(name) == nil {
			return schemaErr(path, "additionalProperties", "allOf: property %q of one member is an additional property of another", name)
		}
	}
	return nil
}
