// Package image writes ainative's bootable image: a Linux kernel and an
// initramfs (uncompressed newc cpio) whose only program is the static
// ainative binary as /init, with links in /bin for its subcommands, the
// service configuration, CA certificates, the kernel modules a
// distribution kernel needs, and optionally models under /models.
//
// The default kernel arrives as a Go module (github.com/gokrazy/kernel.amd64
// or .arm64, drivers for QEMU built in), so a machine with the Go
// toolchain needs nothing else.
package image

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/raym33/ainative/internal/atomicfile"
	"github.com/raym33/ainative/internal/initsys"
	"github.com/raym33/ainative/internal/kmod"
)

// Options says what goes into an image.
type Options struct {
	// Out is the output directory; it is created.
	Out string
	// Arch is amd64 or arm64; empty means the host's.
	Arch string
	// Binary is the static ainative binary for Arch. Empty means this
	// executable when Arch is the host's, otherwise a cross-build with
	// `go build` in the current directory (the ainative source).
	Binary string
	// Links are the subcommand names to link to /init in /bin.
	Links []string
	// Kernel is a bzImage/Image; empty means the default kernel module.
	Kernel string
	// ModulesDir holds the kernel's modules (/lib/modules/RELEASE); empty
	// means next to the kernel (a `dpkg -x` tree) or /lib/modules;
	// "none" means the kernel needs none.
	ModulesDir string
	// LoadModules are the modules PID 1 loads at boot (with their
	// dependencies) when the kernel has modules; nil means QEMUModules.
	LoadModules []string
	// Models are GGUF files to make available under /models.
	Models []string
	// ModelNames name some of Models in the guest: /models/NAME.gguf,
	// which the guest's runtime serves as model NAME. The others keep
	// their file name.
	ModelNames map[string]string
	// MaxInitramfsModel is the largest model copied into the initramfs,
	// which lives in RAM (0: 256 MiB; negative: none). Larger ones go to a
	// SquashFS models disk that PID 1 mounts and links into /models.
	MaxInitramfsModel int64
	// Services is a services.json to use instead of the default.
	Services string
	// Log receives progress messages; nil means slog.Default().
	Log *slog.Logger
}

// QEMUModules are the modules a distribution kernel needs for the devices
// `ainative vm` gives the guest: virtio network and disks, and the input
// and ACPI button drivers for a clean power-off. Those built in or absent
// are skipped.
var QEMUModules = []string{"virtio_pci", "virtio_net", "virtio_blk", "squashfs", "evdev", "button"}

// DefaultMaxInitramfsModel is the default of Options.MaxInitramfsModel.
const DefaultMaxInitramfsModel = 256 << 20

// Manifest describes a built image; it is written as image.json.
type Manifest struct {
	Arch          string   `json:"arch"`
	Kernel        string   `json:"kernel"`    // file name in the image directory
	Initramfs     string   `json:"initramfs"` // file name in the image directory
	KernelRelease string   `json:"kernel_release,omitempty"`
	Modules       []string `json:"modules,omitempty"` // loaded at boot, in order
	Models        []string `json:"models,omitempty"`  // paths in the guest
	// ModelsDisk is the file name of the SquashFS models disk, if any.
	ModelsDisk string `json:"models_disk,omitempty"`
}

// ManifestName is the manifest's file name in an image directory.
const ManifestName = "image.json"

// ReadManifest reads the manifest of the image in dir.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestName), err)
	}
	if m.Kernel == "" || m.Initramfs == "" {
		return nil, fmt.Errorf("%s: kernel or initramfs missing", filepath.Join(dir, ManifestName))
	}
	return &m, nil
}

// caBundles are where distributions keep the CA bundle.
var caBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Arch, Alpine
	"/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
	"/etc/ssl/ca-bundle.pem",             // openSUSE
	"/etc/ssl/cert.pem",                  // Alpine, macOS
}

// Build writes the image into opts.Out and returns its manifest.
func Build(ctx context.Context, opts Options) (*Manifest, error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	if opts.Arch == "" {
		opts.Arch = runtime.GOARCH
	}
	if opts.MaxInitramfsModel == 0 {
		opts.MaxInitramfsModel = DefaultMaxInitramfsModel
	}
	if opts.MaxInitramfsModel < 0 {
		opts.MaxInitramfsModel = -1 // every model to the disk, even an empty one
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, err
	}
	// The manifest, written last, is what makes the directory an image:
	// remove the old one first, so that a build failing half-way does
	// not leave it describing a mix of new and old files.
	if err := os.Remove(filepath.Join(opts.Out, ManifestName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	m := &Manifest{Arch: opts.Arch, Kernel: "vmlinuz", Initramfs: "initramfs.cpio"}

	binary, cleanup, err := userland(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if err := checkStatic(binary, opts.Arch); err != nil {
		return nil, err
	}

	kernel := opts.Kernel
	if kernel == "" {
		if kernel, err = DefaultKernel(opts.Arch); err != nil {
			return nil, err
		}
		opts.ModulesDir = "none" // its drivers are built in
	}
	var mods []kmod.Module
	if opts.ModulesDir != "none" {
		if mods, m.KernelRelease, opts.ModulesDir, err = kernelModules(kernel, opts, log); err != nil {
			return nil, err
		}
	}
	for _, mod := range mods {
		m.Modules = append(m.Modules, mod.Name)
	}

	services, err := servicesJSON(opts.Services)
	if err != nil {
		return nil, err
	}

	var models, diskModels []string
	seenModel := map[string]string{}
	guestName := func(p string) string {
		if n, ok := opts.ModelNames[p]; ok {
			return n + ".gguf"
		}
		return filepath.Base(p)
	}
	for _, p := range opts.Models {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("model %s is not a regular file", p)
		}
		base := guestName(p)
		if other, dup := seenModel[base]; dup {
			return nil, fmt.Errorf("models %s and %s would both be /models/%s", other, p, base)
		}
		seenModel[base] = p
		if fi.Size() > opts.MaxInitramfsModel {
			diskModels = append(diskModels, p)
		} else {
			models = append(models, p)
		}
		m.Models = append(m.Models, "/models/"+base)
	}
	if len(diskModels) > 0 {
		m.ModelsDisk = ModelsDiskName
		log.Info("writing the models disk", "models", len(diskModels))
		if err := writeModelsDisk(filepath.Join(opts.Out, ModelsDiskName), diskModels, guestName); err != nil {
			return nil, err
		}
	} else {
		os.Remove(filepath.Join(opts.Out, ModelsDiskName)) // from an earlier build
	}

	err = atomicfile.Write(filepath.Join(opts.Out, m.Initramfs), 0o644, func(w io.Writer) error {
		a := NewArchive(w)
		must := func(err error) {
			if err != nil && a.err == nil {
				a.err = err
			}
		}
		must(a.CopyFile("init", binary, 0o755))
		for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "root", "models"} {
			must(a.Dir(d, 0o755))
		}
		must(a.Symlink("bin/ainative", "/init"))
		must(a.Symlink("bin/sh", "/init"))
		for _, l := range opts.Links {
			if l != "sh" && l != "ainative" && !strings.ContainsAny(l, "/ ") {
				must(a.Symlink("bin/"+l, "/init"))
			}
		}
		must(a.Bytes("etc/ainative/services.json", services, 0o644))
		must(a.Bytes("etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"), 0o644))
		must(a.Bytes("etc/group", []byte("root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"), 0o644))
		must(a.Bytes("etc/hosts", []byte("127.0.0.1 localhost ainative\n::1 localhost\n"), 0o644))
		must(a.Bytes("etc/os-release", []byte("NAME=ainative\nID=ainative\nPRETTY_NAME=\"ainative\"\n"), 0o644))
		if ca := firstExisting(caBundles); ca != "" {
			must(a.CopyFile("etc/ssl/certs/ca-certificates.crt", ca, 0o644))
		} else {
			log.Warn("no CA certificate bundle found on this host; TLS in the guest will fail", "looked", caBundles)
		}
		if len(mods) > 0 {
			must(a.Bytes("etc/ainative/modules", []byte(strings.Join(m.Modules, "\n")+"\n"), 0o644))
			for _, mod := range mods {
				rel, err := filepath.Rel(opts.ModulesDir, mod.Path)
				if err != nil {
					must(err)
					continue
				}
				must(a.CopyFile(filepath.Join("lib/modules", m.KernelRelease, rel), mod.Path, 0o644))
			}
		}
		for _, p := range models {
			must(a.CopyFile("models/"+guestName(p), p, 0o644))
		}
		if a.err != nil {
			return a.err
		}
		return a.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("writing the initramfs: %w", err)
	}
	if err := copyFileAtomic(filepath.Join(opts.Out, m.Kernel), kernel); err != nil {
		return nil, fmt.Errorf("copying the kernel: %w", err)
	}
	mb, _ := json.MarshalIndent(m, "", "  ")
	if err := atomicfile.WriteBytes(filepath.Join(opts.Out, ManifestName), 0o644, append(mb, '\n')); err != nil {
		return nil, err
	}
	return m, nil
}

// userland returns the static ainative binary for opts.Arch, and a
// function that removes it if it was built here.
func userland(ctx context.Context, opts Options) (string, func(), error) {
	nothing := func() {}
	if opts.Binary != "" {
		return opts.Binary, nothing, nil
	}
	if opts.Arch == runtime.GOARCH {
		exe, err := os.Executable()
		return exe, nothing, err
	}
	tmp, err := os.MkdirTemp("", "ainative-build-")
	if err != nil {
		return "", nothing, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	out := filepath.Join(tmp, "ainative")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, "github.com/raym33/ainative/cmd/ainative")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+opts.Arch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		cleanup()
		return "", nothing, fmt.Errorf("cross-building ainative for %s (needs the Go toolchain and the ainative source as the current directory): %v\n%s",
			opts.Arch, err, stderr.String())
	}
	return out, cleanup, nil
}

// checkStatic verifies that path is a static ELF executable for arch: the
// image has no dynamic loader or libraries.
func checkStatic(path, arch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("userland binary %s: %w", path, err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != want {
		return fmt.Errorf("userland binary %s is for %v, not %s", path, f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("userland binary %s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// kernelModules finds the modules directory of a distribution kernel and
// resolves the modules to load at boot. It returns them, the kernel
// release and the modules directory.
func kernelModules(kernel string, opts Options, log *slog.Logger) (mods []kmod.Module, release, dir string, err error) {
	f, err := os.Open(kernel)
	if err != nil {
		return nil, "", "", err
	}
	release, verr := KernelVersion(f)
	f.Close()
	dir = opts.ModulesDir
	if dir == "" {
		if verr != nil {
			return nil, "", "", fmt.Errorf("kernel %s: %w; pass --modules DIR (or --modules none)", kernel, verr)
		}
		candidates := []string{
			filepath.Join(filepath.Dir(kernel), "..", "lib", "modules", release), // dpkg -x tree: boot/ beside lib/
			filepath.Join("/lib/modules", release),
		}
		dir = firstExisting(candidates)
		if dir == "" {
			return nil, "", "", fmt.Errorf("kernel %s (release %s): modules not found in %s; pass --modules DIR, or --modules none if its drivers are built in",
				kernel, release, strings.Join(candidates, " or "))
		}
	} else if release == "" {
		release = filepath.Base(dir)
	}
	ix, err := kmod.NewIndex(dir)
	if err != nil {
		return nil, "", "", err
	}
	want := opts.LoadModules
	if want == nil {
		want = QEMUModules
	}
	seen := map[string]bool{}
	for _, name := range want {
		if ix.Builtin(name) {
			continue
		}
		if ix.Path(name) == "" {
			log.Warn("kernel module not found; skipping", "module", name, "dir", dir)
			continue
		}
		resolved, err := ix.Resolve(name)
		if err != nil {
			return nil, "", "", err
		}
		for _, r := range resolved {
			if !seen[r.Name] {
				seen[r.Name] = true
				mods = append(mods, r)
			}
		}
	}
	return mods, release, dir, nil
}

func servicesJSON(path string) ([]byte, error) {
	cfg := initsys.ImageConfig()
	if path != "" {
		var err error
		if cfg, err = initsys.LoadConfig(path); err != nil {
			return nil, err
		}
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func firstExisting(paths []string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func copyFileAtomic(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// WithCommand writes to dst the initramfs src followed by a second
// archive holding command as initsys.CommandPath: the kernel unpacks
// concatenated archives in order, so the image itself is not rebuilt
// for each `vm -c`.
func WithCommand(dst, src, command string) error {
	return atomicfile.Write(dst, 0o644, func(w io.Writer) error {
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		if _, err := io.Copy(w, in); err != nil {
			return err
		}
		a := NewArchive(w)
		if err := a.Bytes(initsys.CommandPath, []byte(command), 0o644); err != nil {
			return err
		}
		return a.Close()
	})
}
