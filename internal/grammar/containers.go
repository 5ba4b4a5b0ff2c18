package grammar

import "fmt"

// rule compiles a subschema as a rule of its own, so that repeating it
// (array items) costs one call state per copy.
func (c *compiler) rule(s *value, path string) (int32, error) {
	r, start := c.n.newRule()
	out, err := c.schema(s, start, path)
	if err != nil {
		return 0, err
	}
	c.n.states[out].end = true
	return r, nil
}

func (c *compiler) array(s *value, in int32, path string) (int32, error) {
	var prefix []int32
	items := s.get("items")
	rest := items
	if items != nil && items.kind == 'a' {
		// Draft 4-7 tuple form: items is the prefix, additionalItems the rest.
		rest = s.get("additionalItems")
		for i, e := range items.vals {
			r, err := c.rule(e, fmt.Sprintf("%s/items/%d", path, i))
			if err != nil {
				return 0, err
			}
			prefix = append(prefix, r)
		}
	} else if p := s.get("prefixItems"); p != nil {
		if p.kind != 'a' {
			return 0, schemaErr(path, "prefixItems", "must be an array of schemas")
		}
		for i, e := range p.vals {
			r, err := c.rule(e, fmt.Sprintf("%s/prefixItems/%d", path, i))
			if err != nil {
				return 0, err
			}
			prefix = append(prefix, r)
		}
	}
	if len(prefix) > maxItemCount {
		return 0, schemaErr(path, "prefixItems", "more than %d items cannot be enforced", maxItemCount)
	}
	restRule := int32(-1) // -1: no further items
	switch {
	case rest == nil || (rest.kind == 'b' && rest.b):
		restRule = c.anyValue()
	case rest.kind == 'b':
	default:
		r, err := c.rule(rest, path+"/items")
		if err != nil {
			return 0, err
		}
		restRule = r
	}
	minI, err := count(s, "minItems", path, maxItemCount)
	if err != nil {
		return 0, err
	}
	maxI, err := count(s, "maxItems", path, maxItemCount)
	if err != nil {
		return 0, err
	}
	if minI < 0 {
		minI = 0
	}
	if restRule < 0 && (maxI < 0 || maxI > len(prefix)) {
		maxI = len(prefix)
	}
	if maxI >= 0 && maxI < minI {
		return c.n.add(), nil
	}
	return c.arrayOf(in, prefix, restRule, minI, maxI), nil
}

// arrayOf appends an array whose item i is prefix[i], then rest (-1:
// none), with minI to maxI (-1: unbounded) items.
func (c *compiler) arrayOf(in int32, prefix []int32, rest int32, minI, maxI int) int32 {
	n := c.n
	out := n.add()
	s := n.ws(n.lit(in, "["))
	if minI == 0 {
		n.eps(n.lit(s, "]"), out)
	}
	itemRule := func(i int) int32 {
		if i < len(prefix) {
			return prefix[i]
		}
		return rest
	}
	unroll := len(prefix)
	if minI > unroll {
		unroll = minI
	}
	if maxI >= 0 {
		unroll = maxI
	}
	for i := 0; i < unroll || i == 0; i++ {
		r := itemRule(i)
		if r < 0 || (maxI >= 0 && i >= maxI) {
			return out
		}
		if i > 0 {
			s = n.ws(n.lit(n.ws(s), ","))
		}
		s = n.call(s, r)
		if i+1 >= minI {
			n.eps(n.lit(n.ws(s), "]"), out)
		}
	}
	if maxI < 0 && rest >= 0 {
		// After the unrolled items, any number of rest items.
		loop := n.ws(n.lit(n.ws(s), ","))
		back := n.call(loop, rest)
		n.eps(back, s)
	}
	return out
}

type prop struct {
	name   string
	schema *value
	req    bool
}

// anyProps says whether properties beyond the declared ones may follow
// them, and the schema (rule) of their values.
type anyProps struct {
	allowed bool
	rule    int32
}

func (c *compiler) objectSchema(s *value, in int32, path string) (int32, error) {
	var props []prop
	if p := s.get("properties"); p != nil {
		if p.kind != 'o' {
			return 0, schemaErr(path, "properties", "must be an object")
		}
		for i, k := range p.keys {
			props = append(props, prop{name: k, schema: p.vals[i]})
		}
	}
	add := s.get("additionalProperties")
	var extra anyProps
	var extraSchema *value
	switch {
	case add == nil && s.get("properties") == nil:
		extra.allowed, extraSchema = true, &value{kind: 'b', b: true}
	case add == nil, add.kind == 'b' && !add.b:
	default:
		extra.allowed, extraSchema = true, add
	}
	if r := s.get("required"); r != nil {
		if r.kind != 'a' {
			return 0, schemaErr(path, "required", "must be an array of strings")
		}
	next:
		for _, e := range r.vals {
			if e.kind != 's' {
				return 0, schemaErr(path, "required", "must be an array of strings")
			}
			for i := range props {
				if props[i].name == e.str {
					props[i].req = true
					continue next
				}
			}
			if !extra.allowed {
				return 0, schemaErr(path, "required", "required property %q is not allowed by additionalProperties", e.str)
			}
			props = append(props, prop{name: e.str, schema: extraSchema, req: true})
		}
	}
	if extra.allowed {
		r, err := c.rule(extraSchema, path+"/additionalProperties")
		if err != nil {
			return 0, err
		}
		extra.rule = r
	}
	return c.object(in, props, func(i int, in int32) (int32, error) {
		return c.schema(props[i].schema, in, path+"/properties/"+props[i].name)
	}, extra)
}

// object appends an object with the declared properties in their order
// (required ones mandatory, optional ones skippable), then, if allowed,
// any number of other properties whose names differ from the declared
// ones. value compiles property i's value.
func (c *compiler) object(in int32, props []prop, value func(int, int32) (int32, error), extra anyProps) (int32, error) {
	n := c.n
	out := n.add()
	first := n.ws(n.lit(in, "{")) // no property yet
	more := int32(-1)             // at least one property
	for i, p := range props {
		k := n.add()
		if first >= 0 {
			n.eps(first, k)
		}
		if more >= 0 {
			n.eps(n.ws(n.lit(n.ws(more), ",")), k)
		}
		v := n.ws(n.lit(n.ws(n.lit(k, quote(p.name))), ":"))
		e, err := value(i, v)
		if err != nil {
			return 0, err
		}
		if !p.req {
			// Skipping the property keeps the states as they are.
			m := n.add()
			n.eps(e, m)
			if more >= 0 {
				n.eps(more, m)
			}
			more = m
		} else {
			more, first = e, -1
		}
	}
	if extra.allowed {
		names := make([]string, len(props))
		for i, p := range props {
			names[i] = p.name
		}
		kv := func(k int32) int32 {
			return n.call(n.ws(n.lit(n.ws(n.keyExcept(k, names)), ":")), extra.rule)
		}
		m := n.add()
		if more >= 0 {
			n.eps(more, m)
			n.eps(kv(n.ws(n.lit(n.ws(m), ","))), m)
		}
		if first >= 0 {
			n.eps(kv(first), m)
		}
		more = m
	}
	if first >= 0 {
		n.eps(n.lit(first, "}"), out)
	}
	if more >= 0 {
		n.eps(n.lit(n.ws(more), "}"), out)
	}
	return out, nil
}
