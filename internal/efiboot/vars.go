package efiboot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// EfivarsDir is where Linux mounts efivarfs.
const EfivarsDir = "/sys/firmware/efi/efivars"

// GlobalGUID is EFI_GLOBAL_VARIABLE, the vendor GUID of the boot
// variables.
const GlobalGUID = "8be4df61-93ca-11d2-aa0d-00e098032b8c"

// Attributes of the boot variables: non-volatile, visible to boot
// services and at run time.
const bootVarAttrs = 0x1 | 0x2 | 0x4

// fsImmutable is FS_IMMUTABLE_FL: efivarfs marks most variables
// immutable so that a stray `rm -rf` cannot brick a machine; it is
// cleared just before a deliberate write or delete.
const fsImmutable = 0x00000010

// Vars reads and writes the global boot variables in an efivarfs
// directory (EfivarsDir; tests use a plain directory).
type Vars struct {
	Dir string
}

// Mount mounts efivarfs at EfivarsDir unless it is mounted already. It
// fails on a machine not booted through UEFI.
func Mount() error {
	if _, err := os.Stat("/sys/firmware/efi"); err != nil {
		return errors.New("this machine was not booted through UEFI (no /sys/firmware/efi)")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(EfivarsDir, &st); err == nil && st.Type == unix.EFIVARFS_MAGIC {
		return nil
	}
	if err := unix.Mount("efivarfs", EfivarsDir, "efivarfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting efivarfs at %s: %w", EfivarsDir, err)
	}
	return nil
}

func (v Vars) path(name string) string {
	return filepath.Join(v.Dir, name+"-"+GlobalGUID)
}

// BootName is the variable name of boot entry n: Boot0A0A.
func BootName(n uint16) string { return fmt.Sprintf("Boot%04X", n) }

// Get returns the data of variable name (without efivarfs's leading
// attribute word), or an error wrapping fs.ErrNotExist.
func (v Vars) Get(name string) ([]byte, error) {
	b, err := os.ReadFile(v.path(name))
	if err != nil {
		return nil, err
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("EFI variable %s: %d bytes, shorter than its attributes", name, len(b))
	}
	return b[4:], nil
}

// Set writes variable name, non-volatile. efivarfs takes the attributes
// and the data in one write.
func (v Vars) Set(name string, data []byte) error {
	p := v.path(name)
	clearImmutable(p)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("EFI variable %s: %w", name, err)
	}
	b := binary.LittleEndian.AppendUint32(nil, bootVarAttrs)
	b = append(b, data...)
	_, err = f.Write(b)
	if err == nil && !isEfivarfs(f) {
		// A plain file (tests) keeps a longer old tail; efivarfs
		// replaces the variable whole on each write.
		err = f.Truncate(int64(len(b)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("EFI variable %s: %w", name, err)
	}
	return nil
}

// Delete removes variable name; a missing one is not an error.
func (v Vars) Delete(name string) error {
	p := v.path(name)
	clearImmutable(p)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("EFI variable %s: %w", name, err)
	}
	return nil
}

func isEfivarfs(f *os.File) bool {
	var st unix.Statfs_t
	return unix.Fstatfs(int(f.Fd()), &st) == nil && st.Type == unix.EFIVARFS_MAGIC
}

// clearImmutable drops the immutable flag of an efivarfs file. On a
// plain directory (tests) or a missing file it does nothing; a failure
// shows up as the write's error.
func clearImmutable(p string) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil || flags&fsImmutable == 0 {
		return
	}
	_ = unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags&^fsImmutable))
}

// Uint16s decodes a list of boot entry numbers (BootOrder).
func Uint16s(b []byte) ([]uint16, error) {
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("boot entry list of %d bytes: not a list of 16-bit numbers", len(b))
	}
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return out, nil
}

// EncodeUint16s encodes a list of boot entry numbers.
func EncodeUint16s(ns ...uint16) []byte {
	b := make([]byte, 0, 2*len(ns))
	for _, n := range ns {
		b = binary.LittleEndian.AppendUint16(b, n)
	}
	return b
}

// BootOrder returns BootOrder; a missing variable is an empty order.
func (v Vars) BootOrder() ([]uint16, error) {
	b, err := v.Get("BootOrder")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return Uint16s(b)
}

// Number reads a one-entry variable (BootNext, BootCurrent); ok is false
// when it is not set.
func (v Vars) Number(name string) (n uint16, ok bool, err error) {
	b, err := v.Get(name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	ns, err := Uint16s(b)
	if err != nil || len(ns) != 1 {
		return 0, false, fmt.Errorf("EFI variable %s: %d bytes, want 2", name, len(b))
	}
	return ns[0], true, nil
}
