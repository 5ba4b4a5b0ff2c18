// Package testdata finds the shared conformance fixtures (tiny models,
// golden logits, tokenizer vocabularies) that llama.cpp produced as the
// oracle. They live outside the repository, in $AINATIVE_TESTDATA or by
// default ../shared/testdata next to the checkout.
//
// When the fixtures are absent, tests that need them are skipped with a
// message, except under CI=true, where their absence fails the test: CI
// must never pass by checking nothing.
package testdata

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Dir returns the fixtures directory, or skips (fails under CI=true) t
// when it cannot be found.
func Dir(t testing.TB) string {
	t.Helper()
	dir, why := find()
	if dir != "" {
		return dir
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("test fixtures missing under CI: %s", why)
	}
	t.Skipf("test fixtures missing (%s); set AINATIVE_TESTDATA", why)
	return ""
}

// Path returns the path of a file inside the fixtures directory, skipping
// or failing t like Dir when the directory or the file is missing.
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{Dir(t)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("test fixture missing under CI: %v", err)
		}
		t.Skipf("test fixture missing: %v", err)
	}
	return p
}

func find() (dir, why string) {
	if env := os.Getenv("AINATIVE_TESTDATA"); env != "" {
		if isDir(env) {
			return env, ""
		}
		return "", "AINATIVE_TESTDATA=" + env + " is not a directory"
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err.Error()
	}
	d := filepath.Join(root, "..", "shared", "testdata")
	if isDir(d) {
		return d, ""
	}
	return "", d + " does not exist"
}

// moduleRoot walks up from the working directory (a package directory
// under `go test`) to the directory holding go.mod.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", os.ErrNotExist
		}
		d = parent
	}
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// pending are the fixtures of features the engine does not have yet, with
// the issue that builds them. Every fixture loads today: the list is kept
// for fixtures that arrive before their feature.
var pending = map[string]string{}

// Pending reports whether the model fixture file, which failed to load
// with err, is one whose feature is not built yet. It checks that the
// refusal is the clear kind (an unsupported type or architecture, a
// missing tensor) and fails t otherwise. Once the feature is built, the
// fixture loads and is checked like any other: nothing here needs to
// change for that, though the entry should then be removed.
func Pending(t testing.TB, file string, err error) bool {
	t.Helper()
	why, ok := pending[filepath.Base(file)]
	if !ok || err == nil {
		return false
	}
	msg := err.Error()
	for _, clear := range []string{"not supported", "cannot compute", "is missing"} {
		if strings.Contains(msg, clear) {
			t.Logf("%s needs %s, not built yet; refused as expected: %v", filepath.Base(file), why, err)
			return true
		}
	}
	t.Fatalf("%s needs %s, not built yet, and was refused without a clear reason: %v", filepath.Base(file), why, err)
	return false
}
