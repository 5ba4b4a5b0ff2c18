package testdata

import (
	"slices"
	"testing"
)

// UnderRace skips t when the race detector is on and name is not one of
// keep. The sweeps over every fixture and type are numeric checks that
// the plain run makes in full; under -race, ten times slower, a few cases
// cover every code path that runs goroutines.
func UnderRace(t testing.TB, name string, keep ...string) {
	t.Helper()
	if Race && !slices.Contains(keep, name) {
		t.Skipf("under -race only %v; the plain run checks %s", keep, name)
	}
}
