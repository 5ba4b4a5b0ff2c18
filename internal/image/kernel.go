package image

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	// The default kernels arrive as Go modules; importing their (empty)
	// packages records the versions in the binary's build info and makes
	// `go build` fetch them.
	_ "github.com/gokrazy/kernel.amd64"
	_ "github.com/gokrazy/kernel.arm64"
)

// kernelModule returns the Go module holding the default kernel of arch.
func kernelModule(arch string) (string, error) {
	switch arch {
	case "amd64", "arm64":
		return "github.com/gokrazy/kernel." + arch, nil
	}
	return "", fmt.Errorf("no default kernel for architecture %q (amd64, arm64)", arch)
}

// DefaultKernel returns the path of the default kernel: vmlinuz from the
// gokrazy kernel module recorded in this binary's build info, whose
// drivers are built in, so it needs no modules. It looks in the module cache ($GOMODCACHE, `go env
// GOMODCACHE`, ~/go/pkg/mod) and falls back to `go mod download`.
func DefaultKernel(arch string) (string, error) {
	mod, err := kernelModule(arch)
	if err != nil {
		return "", err
	}
	version, err := moduleVersion(mod)
	if err != nil {
		return "", err
	}
	return moduleKernel(mod, version)
}

// moduleKernel returns the vmlinuz of version of the kernel module mod,
// from the module cache or downloaded into it.
func moduleKernel(mod, version string) (string, error) {
	for _, cache := range modCacheDirs() {
		p := filepath.Join(cache, mod+"@"+version, "vmlinuz")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	dir, err := goModDownload(mod + "@" + version)
	if err != nil {
		return "", fmt.Errorf("default kernel %s@%s is not in the module cache and could not be downloaded (%w); run: go mod download %s@%s, or pass --kernel PATH",
			mod, version, err, mod, version)
	}
	return filepath.Join(dir, "vmlinuz"), nil
}

// moduleVersion reads a dependency's version from the build info.
func moduleVersion(mod string) (string, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", errors.New("binary has no build info to name the kernel module version")
	}
	for _, d := range bi.Deps {
		if d.Path == mod {
			if d.Replace != nil {
				d = d.Replace
			}
			return d.Version, nil
		}
	}
	return "", fmt.Errorf("build info does not list %s", mod)
}

// modCacheDirs lists where the module cache may be, most specific first.
func modCacheDirs() []string {
	var dirs []string
	if d := os.Getenv("GOMODCACHE"); d != "" {
		dirs = append(dirs, d)
	}
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); d != "" {
			dirs = append(dirs, d)
		}
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(strings.Split(gp, string(os.PathListSeparator))[0], "pkg", "mod"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "pkg", "mod"))
	}
	return dirs
}

func goModDownload(modVersion string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", modVersion)
	cmd.Dir = os.TempDir() // outside any module, so go.mod does not matter
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &res); jerr == nil && res.Error != "" {
		return "", errors.New(res.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if res.Dir == "" {
		return "", errors.New("go mod download named no directory")
	}
	return res.Dir, nil
}

// KernelVersion reads the version string of an x86 bzImage (the
// "6.1.0-18-amd64 (debian-kernel@...) #1 SMP ..." from its setup header)
// and returns its first word, the release that names /lib/modules/RELEASE.
func KernelVersion(r io.ReaderAt) (string, error) {
	var hdr [0x210]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return "", fmt.Errorf("reading the setup header: %w", err)
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		return "", errors.New("not an x86 bzImage (no HdrS magic at offset 0x202)")
	}
	ptr := int64(binary.LittleEndian.Uint16(hdr[0x20e:]))
	if ptr == 0 {
		return "", errors.New("bzImage has no kernel_version pointer (offset 0x20e)")
	}
	var buf [256]byte
	n, err := r.ReadAt(buf[:], ptr+0x200)
	if n == 0 {
		return "", fmt.Errorf("reading the version string at offset %#x: %w", ptr+0x200, err)
	}
	s := buf[:n]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	f := strings.Fields(string(s))
	if len(f) == 0 || !isPrintable(f[0]) {
		return "", fmt.Errorf("no version string at offset %#x", ptr+0x200)
	}
	return f[0], nil
}

func isPrintable(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}
