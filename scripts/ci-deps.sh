#!/usr/bin/env bash
# Installs what the VM and browser tests need (Debian/Ubuntu, as root):
# Chromium (the web console's test), QEMU (system emulation for the VM
# tests, user emulation for the arm64 kernels), e2fsprogs (e2fsck checks
# the data file systems ainative writes), OVMF (UEFI firmware, to boot
# `image build --disk` images), and a
# Debian distribution kernel unpacked with dpkg -x (no hooks run) into
# $AINATIVE_DEBIAN_KERNEL_DIR (default /var/cache/ainative/debian-kernel)
# for the test that boots a kernel whose virtio drivers are modules.
# Idempotent: a second run only checks.
set -euo pipefail
kdir=${AINATIVE_DEBIAN_KERNEL_DIR:-/var/cache/ainative/debian-kernel}
[ "$(uname -m)" = x86_64 ] || { echo "ci-deps: VM test dependencies are for x86_64 hosts; skipping"; exit 0; }

updated=
apt_update() { [ -n "$updated" ] || { apt-get update -qq; updated=1; }; }

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
fi
echo "ci-deps: $(qemu-system-x86_64 --version | head -1)"

# Headless Chromium drives the web console's browser test (internal/console).
if ! command -v chromium >/dev/null 2>&1; then
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
echo "ci-deps: $(chromium --version 2>/dev/null | head -1)"

if ! command -v e2fsck >/dev/null 2>&1 && [ ! -x /usr/sbin/e2fsck ] && [ ! -x /sbin/e2fsck ]; then
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends e2fsprogs >/dev/null
fi
echo "ci-deps: $(PATH=$PATH:/usr/sbin:/sbin e2fsck -V 2>&1 | head -1)"

if [ ! -e /usr/share/ovmf/OVMF.fd ]; then
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ovmf >/dev/null
fi
echo "ci-deps: OVMF in /usr/share/ovmf/OVMF.fd"

# An arm64 disk image boots under qemu-system-aarch64 with AAVMF (TCG).
if ! command -v qemu-system-aarch64 >/dev/null 2>&1 || [ ! -e /usr/share/AAVMF/AAVMF_CODE.fd ]; then
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-arm qemu-efi-aarch64 >/dev/null
fi
echo "ci-deps: $(qemu-system-aarch64 --version | head -1), AAVMF in /usr/share/AAVMF"

# qemu-user runs the arm64 test binaries (NEON kernels) on this x86-64 host.
if ! command -v qemu-aarch64-static >/dev/null 2>&1; then
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi
echo "ci-deps: $(qemu-aarch64-static --version | head -1)"

if ! ls "$kdir"/boot/vmlinuz-* >/dev/null 2>&1; then
	apt_update
	pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[ -n "$pkg" ] || { echo "ci-deps: no linux-image package behind linux-image-amd64" >&2; exit 1; }
	tmp=$(mktemp -d)
	chmod 755 "$tmp" # apt downloads as _apt
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && apt-get download -qq "$pkg")
	rm -rf "$kdir.new"
	mkdir -p "$kdir.new"
	dpkg -x "$tmp"/"$pkg"_*.deb "$kdir.new"
	rm -rf "$kdir"
	mv "$kdir.new" "$kdir"
fi
echo "ci-deps: Debian kernel $(basename "$(ls "$kdir"/boot/vmlinuz-* | head -1)") in $kdir"
