// Package kmod finds, orders and loads Linux kernel modules without
// depmod or modprobe: dependencies come from each module's own .modinfo
// section ("depends=a,b"), so a modules directory copied from any
// distribution kernel works. Compressed modules (.ko.xz, .ko.zst, .ko.gz)
// are decompressed in Go and loaded with init_module; plain ones with
// finit_module.
//
// The image builder uses it to pick the modules (and their dependencies)
// a distribution kernel needs for QEMU's devices; PID 1 uses it to load
// them at boot.
package kmod

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// Info is what a module's .modinfo section says about it.
type Info struct {
	Name    string   // e.g. "virtio_net"
	Depends []string // modules that must be loaded first
}

// maxModuleSize bounds what ReadModule decompresses: the largest modules
// (GPU drivers) are tens of MiB; anything bigger is not a module.
const maxModuleSize = 256 << 20

// Canonical returns the module name as the kernel spells it: '-' and '_'
// are interchangeable in module names.
func Canonical(name string) string { return strings.ReplaceAll(name, "-", "_") }

// nameOf returns the module name of a file path (virtio-net.ko.xz -> virtio_net).
func nameOf(path string) (string, bool) {
	base := filepath.Base(path)
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if n, ok := strings.CutSuffix(base, ext); ok {
			return Canonical(n), true
		}
	}
	return "", false
}

// ReadModule returns the uncompressed ELF image of a module file.
func ReadModule(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(path, ".xz"):
		xr, err := xz.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = xr
	case strings.HasSuffix(path, ".zst"):
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxModuleSize))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(path, ".gz"):
		gr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = gr
	}
	data, err := io.ReadAll(io.LimitReader(r, maxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxModuleSize {
		return nil, fmt.Errorf("%s: larger than %d bytes uncompressed", path, maxModuleSize)
	}
	return data, nil
}

// ParseInfo reads the .modinfo section of an uncompressed module image.
func ParseInfo(module []byte) (Info, error) {
	f, err := elf.NewFile(bytes.NewReader(module))
	if err != nil {
		return Info{}, fmt.Errorf("not an ELF module: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return Info{}, errors.New("no .modinfo section")
	}
	if sec.Type == elf.SHT_NOBITS || sec.Size > uint64(len(module)) {
		return Info{}, fmt.Errorf(".modinfo section size %d out of range", sec.Size)
	}
	data, err := sec.Data()
	if err != nil {
		return Info{}, fmt.Errorf(".modinfo: %w", err)
	}
	return parseModinfo(data), nil
}

// parseModinfo decodes the NUL-separated key=value strings of .modinfo.
func parseModinfo(data []byte) Info {
	var info Info
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := bytes.Cut(kv, []byte("="))
		if !ok {
			continue
		}
		switch string(k) {
		case "name":
			info.Name = Canonical(string(v))
		case "depends":
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					info.Depends = append(info.Depends, Canonical(d))
				}
			}
		}
	}
	return info
}

// Index maps module names to files under one modules directory
// (/lib/modules/RELEASE).
type Index struct {
	Dir     string
	files   map[string]string // name -> path
	builtin map[string]bool   // from modules.builtin, when present
}

// NewIndex walks dir for module files.
func NewIndex(dir string) (*Index, error) {
	ix := &Index{Dir: dir, files: make(map[string]string), builtin: make(map[string]bool)}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if name, ok := nameOf(path); ok {
				if _, dup := ix.files[name]; !dup {
					ix.files[name] = path
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("indexing modules: %w", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := nameOf(line); ok {
				ix.builtin[name] = true
			}
		}
	}
	return ix, nil
}

// Builtin reports whether the kernel has the module built in.
func (ix *Index) Builtin(name string) bool { return ix.builtin[Canonical(name)] }

// Path returns the file of a module, or "" when the index lacks it.
func (ix *Index) Path(name string) string { return ix.files[Canonical(name)] }

// Module is one module file to load.
type Module struct {
	Name string
	Path string
	Info Info
}

// Resolve returns the named modules and everything they depend on, each
// once, dependencies first. A name that is built in is left out; one that
// is neither built in nor present is an error naming it and who needs it.
func (ix *Index) Resolve(names ...string) ([]Module, error) {
	var out []Module
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name, neededBy string) error
	visit = func(name, neededBy string) error {
		name = Canonical(name)
		switch state[name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("module %s: dependency cycle", name)
		}
		path := ix.files[name]
		if path == "" {
			state[name] = 2
			if ix.builtin[name] {
				return nil
			}
			if neededBy != "" {
				return fmt.Errorf("module %s (needed by %s) not found in %s", name, neededBy, ix.Dir)
			}
			return fmt.Errorf("module %s not found in %s", name, ix.Dir)
		}
		state[name] = 1
		data, err := ReadModule(path)
		if err != nil {
			return err
		}
		info, err := ParseInfo(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, d := range info.Depends {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		if info.Name == "" {
			info.Name = name
		}
		out = append(out, Module{Name: name, Path: path, Info: info})
		return nil
	}
	for _, n := range names {
		if err := visit(n, ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Load inserts one module into the running kernel. A module that is
// already loaded (or built in) is not an error.
func Load(path string) error {
	var err error
	if _, ok := nameOf(path); ok && strings.HasSuffix(path, ".ko") {
		var f *os.File
		if f, err = os.Open(path); err != nil {
			return err
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
	} else {
		var data []byte
		if data, err = ReadModule(path); err != nil {
			return err
		}
		err = unix.InitModule(data, "")
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("loading %s: %w", path, err)
	}
	return nil
}

// LoadAll resolves names in ix and loads them in order. It goes on after
// a failure (a missing NIC driver should not stop the disk driver) and
// returns all errors joined.
func (ix *Index) LoadAll(names ...string) error {
	var errs []error
	for _, n := range names {
		mods, err := ix.Resolve(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, m := range mods {
			if err := Load(m.Path); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
