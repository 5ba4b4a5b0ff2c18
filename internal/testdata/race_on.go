//go:build race

package testdata

// Race reports whether the race detector is on.
const Race = true
