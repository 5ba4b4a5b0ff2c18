// Package grammar makes a model's output follow a JSON schema while it
// is generated: a schema compiles to a pushdown automaton over bytes, and
// a Matcher walks that automaton over the model's real vocabulary to say,
// before each token, which tokens keep the output on a path to a valid
// document. Masking the other logits makes every finished output parse
// and validate, whatever the weights, and a token budget makes even a
// capped output complete.
//
// # The automaton
//
// A schema becomes a set of rules, each an NFA over bytes whose states
// may call another rule (a recursive transition network, i.e. a pushdown
// automaton). $refs to $defs, definitions or any local JSON pointer are
// rules, so recursive schemas need no depth bound; "any JSON" is a
// recursive rule too. A Matcher tracks the set of live (state, return
// stack) threads, so ambiguous alternatives (anyOf branches sharing a
// prefix) are followed together until the bytes tell them apart.
//
// # What is generated
//
// The language is a subset of the schema's valid instances, chosen so
// every output validates:
//   - Whitespace as llama.cpp's json-schema-to-grammar allows it: between
//     tokens of JSON, nothing, one space, or one or two newlines and at
//     most 20 spaces or tabs; before and after the document too.
//   - Object properties in the order of "properties", required ones
//     mandatory, optional ones skippable (llama.cpp's convention). Extra
//     properties follow the declared ones, only when additionalProperties
//     is true or a schema, or when an object schema has no "properties"
//     at all; their names differ from the declared names.
//   - Numbers with at most 16 integral and 16 fraction digits and a
//     2-digit exponent (bounded numbers have no exponent); integers
//     without fraction or exponent. minimum/maximum and their exclusive
//     forms are enforced for both.
//   - Strings in UTF-8, escaping only '"', '\' and control characters;
//     \u escapes of surrogates are never generated. minLength/maxLength
//     count code points, as JSON Schema does.
//   - enum and const values in their compact JSON spelling.
//   - pattern: Go's RE2 syntax, matched anywhere in the string unless
//     anchored with ^ and $. format: date, time, date-time (no leap
//     seconds, no February 29), uuid (lower case), email (dot-atom
//     addresses), hostname, ipv4.
//   - anyOf and oneOf both as anyOf (oneOf branches that overlap can
//     produce a value matching several). allOf is merged into one schema
//     (properties, required, type and bounds merge; other keywords must
//     agree). Keywords beside anyOf/oneOf apply to every branch.
//
// Keywords that cannot be enforced (not, if/then/else, patternProperties,
// propertyNames, min/maxProperties, dependencies, contains, multipleOf,
// uniqueItems: true, unevaluated*, non-local $ref, unknown formats) are a
// *SchemaError naming the keyword. Annotations and unknown keywords are
// ignored, as JSON Schema ignores them.
//
// # Using it
//
// Build a Vocab once per model (FromTokenizer) and a Grammar per request
// (CompileSchema, JSON, JSONObject; ToolCall for a call of one of a set
// of tools, and Framed to wrap it in the template's literal markers). Each sequence gets a Matcher; before each
// token, Mask fills a bitmask, ApplyMask sets the other logits to -Inf,
// the sampler draws, and Accept advances. The document is the
// concatenation of the accepted tokens' pieces (Vocab.Piece); a
// detokenizer that cleans up spaces can alter string contents.
//
// A Matcher caches the transitions between its states and the masks of
// the states it has seen, so a state that recurs (the body of a string)
// costs a copy. Inside a string, tokens of plain text (whole characters
// needing no escape: about 95% of a Qwen or Llama 3 vocabulary) are not
// walked: in a free-running string they all lead back to the same
// state, and in a counted one (minLength/maxLength) a token of k
// characters moves the count k ahead; only the other tokens are walked.
// The caches are bounded and rebuilt when full.
//
// # Budget
//
// The shortest completion of a state is counted in bytes, and a token is
// allowed only if the shortest completion after it fits in the tokens
// left after it. This is conservative when every byte a completion needs
// exists as a single-byte token, which holds for byte-level BPE (Llama 3,
// Qwen) and for SentencePiece vocabularies with byte fallback (Llama 2,
// Gemma): then the capped output still closes, one byte per token at
// worst. Vocab.ByteComplete reports whether a vocabulary has them all.
package grammar

import (
	"errors"
	"math"
	"slices"
)

// inf is the cost of a state with no finite completion.
const inf = math.MaxInt32 / 4

// Grammar is a compiled schema. It is immutable and safe for concurrent
// use by many Matchers.
type Grammar struct {
	states []nstate
	rules  []int32
	root   int32 // the rule of the whole output
	value  int32 // the rule of the document without surrounding whitespace
	// dist is the length in bytes of the shortest way from a state to
	// the end of its rule (inf: none).
	dist []int32
	// plainDead marks the states that no plain character can leave.
	plainDead []bool
}

// MinBytes is the length of the shortest valid document.
func (g *Grammar) MinBytes() int { return int(g.dist[g.rules[g.root]]) }

// Framed returns a grammar for the literal text prefix, then a document
// of g, then the literal text suffix: a tool call in the frame a model's
// template expects, such as Qwen's "<tool_call>\n" ... "\n</tool_call>"
// (a literal that is one special token of the vocabulary, like
// <tool_call>, may be generated as that token).
func (g *Grammar) Framed(prefix, suffix string) *Grammar {
	n := &nfa{states: slices.Clone(g.states), rules: slices.Clone(g.rules)}
	r, start := n.newRule()
	s := n.lit(n.call(n.lit(start, prefix), g.root), suffix)
	n.states[s].end = true
	f := &Grammar{states: n.states, rules: n.rules, root: r, value: g.value}
	f.computeDist() // cannot fail: g's rules are productive and not left-recursive
	f.computePlainDead()
	return f
}

func finish(n *nfa, value int32) (*Grammar, error) {
	g := &Grammar{states: n.states, rules: n.rules, value: value}
	g.computeDist()
	g.computePlainDead()
	if err := g.checkLeftRecursion(); err != nil {
		return nil, err
	}
	if g.dist[g.rules[g.root]] >= inf {
		return nil, &SchemaError{Reason: "no value is valid against this schema (or none the decoder can generate)"}
	}
	return g, nil
}

// computePlainDead marks the states with no transition on a byte that
// can start a plain character.
func (g *Grammar) computePlainDead() {
	g.plainDead = make([]bool, len(g.states))
	for i := range g.states {
		dead := true
		for _, r := range g.states[i].ranges {
			if overlaps(r, 0x20, '"'-1) || overlaps(r, '"'+1, '\\'-1) || overlaps(r, '\\'+1, 0x7F) || overlaps(r, 0xC2, 0xF4) {
				dead = false
				break
			}
		}
		g.plainDead[i] = dead
	}
}

func overlaps(r byteRange, lo, hi byte) bool { return r.lo <= hi && lo <= r.hi }

// computeDist finds each state's shortest completion by relaxing costs
// backwards from the rule ends until nothing changes.
func (g *Grammar) computeDist() {
	ns := len(g.states)
	dist := make([]int32, ns)
	preds := make([][]int32, ns)
	callers := make([][]int32, len(g.rules))
	for i := range g.states {
		s := &g.states[i]
		dist[i] = inf
		for _, r := range s.ranges {
			preds[r.to] = append(preds[r.to], int32(i))
		}
		for _, e := range s.eps {
			preds[e] = append(preds[e], int32(i))
		}
		if s.call >= 0 {
			preds[s.ret] = append(preds[s.ret], int32(i))
			callers[s.call] = append(callers[s.call], int32(i))
		}
	}
	ruleOf := make(map[int32]int32, len(g.rules))
	for r, s := range g.rules {
		ruleOf[s] = int32(r)
	}
	eval := func(i int32) int32 {
		s := &g.states[i]
		best := int32(inf)
		if s.end {
			best = 0
		}
		for _, r := range s.ranges {
			if d := dist[r.to] + 1; d < best {
				best = d
			}
		}
		for _, e := range s.eps {
			if d := dist[e]; d < best {
				best = d
			}
		}
		if s.call >= 0 {
			if d := dist[g.rules[s.call]] + dist[s.ret]; d < best {
				best = d
			}
		}
		if best > inf {
			best = inf
		}
		return best
	}
	var work []int32
	queued := make([]bool, ns)
	push := func(i int32) {
		if !queued[i] {
			queued[i] = true
			work = append(work, i)
		}
	}
	for i := range g.states {
		if g.states[i].end {
			push(int32(i))
		}
	}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		queued[i] = false
		d := eval(i)
		if d >= dist[i] {
			continue
		}
		dist[i] = d
		for _, p := range preds[i] {
			push(p)
		}
		if r, ok := ruleOf[i]; ok {
			for _, p := range callers[r] {
				push(p)
			}
		}
	}
	g.dist = dist
}

// checkLeftRecursion refuses a rule that can call itself before reading
// a byte ({"$ref": "#"}): its matcher would recurse without end.
func (g *Grammar) checkLeftRecursion() error {
	left := make([][]int32, len(g.rules)) // rules called before any byte
	for r, start := range g.rules {
		seen := map[int32]bool{}
		stack := []int32{start}
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[i] {
				continue
			}
			seen[i] = true
			s := &g.states[i]
			stack = append(stack, s.eps...)
			if s.call >= 0 {
				left[r] = append(left[r], s.call)
				if g.dist[g.rules[s.call]] == 0 {
					stack = append(stack, s.ret)
				}
			}
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(g.rules))
	var visit func(r int32) bool
	visit = func(r int32) bool {
		color[r] = grey
		for _, q := range left[r] {
			if color[q] == grey || (color[q] == white && visit(q)) {
				return true
			}
		}
		color[r] = black
		return false
	}
	for r := range g.rules {
		if color[r] == white && visit(int32(r)) {
			return &SchemaError{Keyword: "$ref", Reason: "a $ref cycle that reads nothing (left recursion) cannot be generated"}
		}
	}
	return nil
}

var errNoVocab = errors.New("grammar: nil vocabulary")
