package shell

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
)

// DefaultFuncNest is the function nesting limit when $FUNCNEST is not a
// positive number. bash has none by default and dies of a stack overflow
// on `f(){ f; }; f`; the interpreter here would instead grow without
// bound (hundreds of MB within seconds), so a limit is always in force.
const DefaultFuncNest = 1000

// errNesting aborts the command line that called a function past the
// nesting limit, as bash's "maximum function nesting level exceeded" does.
var errNesting = errors.New("maximum function nesting level exceeded")

// checkNesting refuses a function call that would nest deeper than
// $FUNCNEST (or DefaultFuncNest). The message is bash's.
func checkNesting(ctx context.Context, args []string) error {
	hc := interp.HandlerCtx(ctx)
	if !isFunction(hc, args[0]) {
		return nil
	}
	limit := DefaultFuncNest
	if n, err := strconv.Atoi(hc.Env.Get("FUNCNEST").String()); err == nil && n > 0 {
		limit = n
	}
	if funcDepth(hc.Env) >= limit {
		fmt.Fprintf(hc.Stderr, "%s: %v (%d)\n", args[0], errNesting, limit)
		return errNesting
	}
	return nil
}

// The interpreter (mvdan.cc/sh/v3 v3.14) exposes neither the function
// call depth nor the function table of the runner a handler runs in (a
// subshell has its own copy), so both are read from its state by
// reflection: each function call pushes an environment overlay marked
// funcScope onto the chain that hc.Env extends, and HandlerContext
// holds the runner. TestNestingLimit fails if an upgrade renames them.

// funcDepth counts the function scopes enclosing env. It walks the whole
// chain on every call, so a recursion n deep costs O(n²) steps in all:
// fine for the limits in use, and field indexes are looked up once.
func funcDepth(env expand.Environ) int {
	depth := 0
	v := reflect.ValueOf(env)
	for v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
		s := v.Elem()
		idx := overlayFields(s.Type())
		if idx.funcScope < 0 || idx.parent < 0 {
			break
		}
		if s.Field(idx.funcScope).Bool() {
			depth++
		}
		p := s.Field(idx.parent)
		if p.IsNil() {
			break
		}
		v = p.Elem()
	}
	return depth
}

// overlayIndex holds the field indexes of an environment overlay type;
// -1 where it lacks the field (or it has another type).
type overlayIndex struct{ funcScope, parent int }

var overlayIndexes sync.Map // reflect.Type → overlayIndex

func overlayFields(t reflect.Type) overlayIndex {
	if idx, ok := overlayIndexes.Load(t); ok {
		return idx.(overlayIndex)
	}
	idx := overlayIndex{-1, -1}
	if f, ok := t.FieldByName("funcScope"); ok && f.Type.Kind() == reflect.Bool && len(f.Index) == 1 {
		idx.funcScope = f.Index[0]
	}
	if f, ok := t.FieldByName("parent"); ok && f.Type.Kind() == reflect.Interface && len(f.Index) == 1 {
		idx.parent = f.Index[0]
	}
	overlayIndexes.Store(t, idx)
	return idx
}

// isFunction reports whether name is a function of the runner that hc
// belongs to.
func isFunction(hc interp.HandlerContext, name string) bool {
	r := reflect.ValueOf(hc).FieldByName("runner")
	if r.Kind() != reflect.Pointer || r.IsNil() {
		return false
	}
	funcs := r.Elem().FieldByName("Funcs")
	if funcs.Kind() != reflect.Map {
		return false
	}
	return funcs.MapIndex(reflect.ValueOf(name)).IsValid()
}
