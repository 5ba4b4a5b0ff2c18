// Package leaktest finds the goroutines a test started and left running.
//
// A count of all goroutines (runtime.NumGoroutine before and after) is
// wrong as soon as tests run in parallel, and a snapshot of the
// goroutines alive at the start (go.uber.org/goleak's IgnoreCurrent)
// still blames a test for whatever a parallel test starts meanwhile.
// Here attribution follows ancestry instead: Check gives the test's
// goroutine a profiler label, which every goroutine it starts inherits,
// and so on down; at the end, goroutines carrying the label are the
// test's own leaks, whatever else runs in the process.
package leaktest

import (
	"bytes"
	"context"
	"fmt"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// wait is how long Check lets the test's goroutines take to finish after
// it ends (workers told to stop may need a moment to return).
var wait = 5 * time.Second

// labelKey is the profiler label that marks a test's goroutines.
const labelKey = "leaktest"

var nextID atomic.Uint64

// ignored are goroutines that the standard library starts once per
// process and keeps for its lifetime, whichever goroutine asked first:
// they are nobody's leak.
var ignored = []string{
	"os/signal.loop", // signal.Notify's receiver
}

// Check fails t if a goroutine started by t's goroutine from now on
// (directly or through others) still runs when t ends, after waiting a
// few seconds for them to return; the message lists their stacks. Call it at
// the start of the test, on the test's goroutine. It replaces the
// goroutine's profiler labels, which tests do not otherwise use.
func Check(t testing.TB) {
	t.Helper()
	id := fmt.Sprintf("%s#%d", t.Name(), nextID.Add(1))
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels(labelKey, id)))
	t.Cleanup(func() {
		// The cleanup runs on the test's goroutine: unmark it first.
		pprof.SetGoroutineLabels(context.Background())
		deadline := time.Now().Add(wait)
		for {
			n, stacks := running(id)
			if n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("leaktest: %d goroutine(s) started by the test still running after it:\n%s", n, stacks)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// running counts the goroutines labelled with Check's id and returns
// their stacks, from the goroutine profile (a stop-the-world snapshot).
func running(id string) (int, string) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return 0, ""
	}
	want := fmt.Sprintf("# labels: {%q:%q}", labelKey, id)
	var n int
	var stacks strings.Builder
	// After a header line, records are separated by blank lines:
	// "COUNT @ PCS", then "# labels: {...}" when the goroutines have
	// labels, then their frames.
	_, records, _ := strings.Cut(buf.String(), "\n")
	for _, rec := range strings.Split(records, "\n\n") {
		if !strings.Contains(rec, "\n"+want+"\n") || isIgnored(rec) {
			continue
		}
		var count int
		if _, err := fmt.Sscanf(rec, "%d @", &count); err != nil {
			continue
		}
		n += count
		stacks.WriteString(rec)
		stacks.WriteString("\n\n")
	}
	return n, stacks.String()
}

func isIgnored(rec string) bool {
	for _, fn := range ignored {
		if strings.Contains(rec, "\t"+fn+"+") {
			return true
		}
	}
	return false
}
