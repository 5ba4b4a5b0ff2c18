package leaktest

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeT records what Check reports instead of failing the real test.
type fakeT struct {
	testing.TB
	name     string
	cleanups []func()
	errs     []string
}

func (f *fakeT) Helper()           {}
func (f *fakeT) Name() string      { return f.name }
func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

// end runs the cleanups as the testing package does when a test ends.
func (f *fakeT) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func shortWait(t *testing.T) {
	old := wait
	wait = 200 * time.Millisecond
	t.Cleanup(func() { wait = old })
}

// blockedUntil starts a goroutine that runs until release is closed.
func blockedUntil(release chan struct{}, started *sync.WaitGroup) {
	started.Add(1)
	go func() {
		started.Done()
		<-release
	}()
}

func TestReportsWhatTheTestStarted(t *testing.T) {
	shortWait(t)
	release := make(chan struct{})
	defer close(release)
	var started sync.WaitGroup

	ft := &fakeT{TB: t, name: "leaky"}
	Check(ft)
	blockedUntil(release, &started) // a child
	done := make(chan struct{})
	go func() { // a grandchild, whose parent has returned
		blockedUntil(release, &started)
		close(done)
	}()
	<-done
	started.Wait()
	ft.end()
	if len(ft.errs) != 1 || !strings.Contains(ft.errs[0], "2 goroutine(s) started by the test") ||
		!strings.Contains(ft.errs[0], "blockedUntil") {
		t.Errorf("got %q, want a report of 2 goroutines in blockedUntil", ft.errs)
	}
}

func TestIgnoresOthersGoroutines(t *testing.T) {
	shortWait(t)
	release := make(chan struct{})
	defer close(release)
	var started sync.WaitGroup

	// A goroutine of "another test" running alongside, which starts
	// one more after Check: neither is this test's.
	start, launched := make(chan struct{}), make(chan struct{})
	go func() {
		<-start
		blockedUntil(release, &started)
		close(launched) // its Add is done: Wait may start (a WaitGroup's Add from zero must come before Wait)
	}()
	ft := &fakeT{TB: t, name: "clean"}
	Check(ft)
	close(start)
	// Goroutines of the test that end on their own, if a little late.
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(20 * time.Millisecond)
		}()
	}
	// signal.Notify's process-wide receiver, if started here.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	<-launched
	started.Wait()
	ft.end()
	wg.Wait()
	if len(ft.errs) != 0 {
		t.Errorf("reported %q, want nothing", ft.errs)
	}
}

// Two parallel tests: b's goroutine runs while a ends, and ends itself
// only after a has; a must not be blamed for it, and b's check waits.
func TestParallelTests(t *testing.T) {
	aEnded := make(chan struct{})
	hStarted := make(chan struct{})
	t.Run("group", func(t *testing.T) {
		t.Run("a", func(t *testing.T) {
			t.Parallel()
			t.Cleanup(func() { close(aEnded) }) // after Check's cleanup
			Check(t)
			<-hStarted
		})
		t.Run("b", func(t *testing.T) {
			t.Parallel()
			Check(t)
			go func() {
				close(hStarted)
				<-aEnded
			}()
		})
	})
}
