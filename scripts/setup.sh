#!/usr/bin/env bash
# Set-up on a fresh Linux machine: checks Go, downloads the Go modules and
# builds bin/ainative. With --test it also installs what the test suite
# needs (QEMU and a Debian kernel for the VM tests), which needs root/apt.
set -euo pipefail
cd "$(dirname "$0")/.."

need_go="1.26"
if ! command -v go >/dev/null 2>&1; then
	echo "setup: Go $need_go or newer is required (https://go.dev/dl/); 'go' is not on PATH" >&2
	exit 1
fi
have=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need_go" "$have" | sort -V | head -1)" != "$need_go" ]; then
	echo "setup: Go $need_go or newer is required, found $have" >&2
	exit 1
fi

go mod download
CGO_ENABLED=0 go build -trimpath -o bin/ainative ./cmd/ainative
echo "setup: built bin/ainative ($(go env GOOS)/$(go env GOARCH), static)"

if [ "${1:-}" = "--test" ] && [ -x scripts/ci-deps.sh ]; then
	scripts/ci-deps.sh
fi
