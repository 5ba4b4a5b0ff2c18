#!/usr/bin/env bash
# The test suite, as CI runs it: formatting, vet, unit and fixture tests,
# the race detector on every package (-short), the pure-Go kernels, the arm64
# kernels under qemu-user, and static cross builds. Fixtures come from $AINATIVE_TESTDATA or
# ../shared/testdata; under CI=true their absence is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=${CGO_ENABLED:-0}
step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }

step gofmt
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi

# ./... leaves out directories named testdata: the fixture helpers are
# listed by name.
helpers="./internal/testdata ./internal/testdata/testmodel ./internal/testdata/testruntime"

step go vet
go vet ./... $helpers

step go test
go test -count=1 -timeout 20m ./... $helpers

step go test -race
# Every package: most of them run goroutines (pool, scheduler, daemon, bus,
# supervisor, shell). -short skips what only repeats the plain run at
# length (the VM boots, the longest random walks), which the race
# detector would slow tenfold; the numeric sweeps over every fixture run a
# few cases (testdata.UnderRace).
CGO_ENABLED=1 go test -count=1 -race -short -timeout 15m ./...

step pure-Go kernels
go test -count=1 -tags purego ./internal/tensor/...

step arm64 kernels under emulation
# -short: every kernel, and two of the quantization fixtures (the plain
# run checks them all; emulation is ten times slower).
if command -v qemu-aarch64-static >/dev/null 2>&1; then
	GOARCH=arm64 go test -count=1 -short -exec qemu-aarch64-static ./internal/tensor/... ./internal/hw/... ./internal/gguf/...
elif [ "${CI:-}" = true ]; then
	echo "qemu-aarch64-static is missing (scripts/ci-deps.sh installs it)" >&2
	exit 1
else
	echo "skipped: qemu-aarch64-static not installed (apt-get install qemu-user-static)"
fi

step static cross builds
GOARCH=arm64 go build -o /dev/null ./cmd/ainative
go build -tags purego -o /dev/null ./cmd/ainative
echo "all tests passed"
