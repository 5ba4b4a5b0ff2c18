package kmod

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestLoadInDependencyOrder(t *testing.T) {
	mod := func(name string, deps ...string) Module {
		return Module{Name: name, Path: "/m/" + name + ".ko", Info: Info{Depends: deps}}
	}
	// As Resolve lists them: dependencies first. cyc_a and cyc_b depend
	// on each other; builtin is not among the modules.
	mods := []Module{
		mod("base"), mod("mid", "base"), mod("top", "mid", "base", "builtin"),
		mod("alone"), mod("bad", "base"), mod("after_bad", "bad"),
		mod("cyc_a", "cyc_b"), mod("cyc_b", "cyc_a"),
	}
	var mu sync.Mutex
	var order []string
	err := loadInDependencyOrder(mods, func(path string) error {
		name := strings.TrimSuffix(strings.TrimPrefix(path, "/m/"), ".ko")
		mu.Lock()
		order = append(order, name)
		mu.Unlock()
		if name == "bad" {
			return errors.New("loading bad: exec format error")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "loading bad") {
		t.Errorf("error %v, want the failure of bad", err)
	}
	if len(order) != len(mods) {
		t.Fatalf("loaded %v, want each of the %d modules once", order, len(mods))
	}
	for _, m := range mods {
		at := slices.Index(order, m.Name)
		for _, d := range m.Info.Depends {
			if dep := slices.Index(order, d); dep > at && !strings.HasPrefix(m.Name, "cyc_") {
				t.Errorf("%s loaded before its dependency %s: %v", m.Name, d, order)
			}
		}
	}
	if err := loadInDependencyOrder(nil, nil); err != nil {
		t.Errorf("no modules: %v", err)
	}
}
