package image

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/raym33/ainative/internal/atomicfile"
	"github.com/raym33/ainative/internal/datafs"
	"github.com/raym33/ainative/internal/efiboot"
	"github.com/raym33/ainative/internal/initsys"
	"github.com/raym33/ainative/internal/update"
)

// The partitions of a disk image, in order (1 to 4).
const (
	ESPName   = "ainative-esp"
	RootAName = "ainative-root-a"
	RootBName = "ainative-root-b"
	DataName  = "ainative-data"
)

// Sizes of the disk image's partitions; the data partition takes the rest.
const (
	espSize   = 256 << 20
	rootSize  = 1 << 30
	alignment = 1 << 20
	// MinDiskSize leaves the data partition datafs.MinSize and GPT room.
	MinDiskSize = espSize + 2*rootSize + datafs.MinSize + 2*alignment
	// DefaultDiskSize is the default of `image build --disk --size`.
	DefaultDiskSize = 8 << 30
)

// DiskCmdline is the kernel command line of a disk image for arch. The
// data partition is found by its GPT name, whatever the disk is called on
// the machine (vda, sda, nvme0n1). The serial console (the PC's first
// UART, arm64's PL011) comes last, so that it is /dev/console (the shell
// and `vm --disk`); the screen gets one too.
// no_timer_check (x86 only) skips the IO-APIC timer check that a busy
// TCG host can fail.
func DiskCmdline(arch string) []string {
	serial, timer := "console=ttyS0", []string{"no_timer_check"}
	if arch == "arm64" {
		serial, timer = "console=ttyAMA0", nil
	}
	c := append([]string{"console=tty0", serial, "panic=-1", "oops=panic"}, timer...)
	return append(c, "loglevel=4", initsys.DataDiskParam+"=PARTLABEL="+DataName)
}

// WriteDisk writes a bootable GPT disk image of size bytes at path from
// the image in dir: an EFI system partition (FAT32) holding the kernel,
// the initramfs, the removable-media boot program
// (efiboot.RemovablePath: efiboot.ChainLoader, which starts the kernel
// through its EFI stub with the initramfs and DiskCmdline) and
// startup.nsh, a UEFI shell script doing the same should the loader
// fail; two root slots A and B (package update: slot A holds the same
// system, B is blank until the first update); and the data partition,
// an ext4 file system PID 1 mounts at /var/lib/ainative.
//
// The ESP's copy boots a machine whose firmware has no ainative boot
// entry yet: a fresh machine, a USB stick, a cloud VM. Its first healthy
// boot writes the boot entries of the slots, and from then on the
// firmware starts the slots directly.
func WriteDisk(path, dir string, size int64) (err error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	if efiboot.RemovablePath(m.Arch) == "" {
		return fmt.Errorf("disk images are for amd64 and arm64; the image in %s is %s", dir, m.Arch)
	}
	if m.ModelsDisk != "" {
		return fmt.Errorf("the image in %s has a models disk, which disk images do not hold yet; build it with --max-initramfs-model larger than its models", dir)
	}
	if size < MinDiskSize {
		return fmt.Errorf("disk size %d MiB: want at least %d MiB", size>>20, MinDiskSize>>20)
	}
	if size > datafs.MaxSize {
		return fmt.Errorf("disk size %d bytes: want at most %d TiB", size, datafs.MaxSize>>40)
	}
	size &^= alignment - 1
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		f.Close()
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := f.Truncate(size); err != nil {
		return err
	}
	d, err := diskfs.OpenBackend(file.New(f, false), diskfs.WithSectorSize(diskfs.SectorSize512))
	if err != nil {
		return err
	}
	const sector = 512
	at := uint64(alignment / sector)
	part := func(i int, name string, typ gpt.Type, bytes uint64) *gpt.Partition {
		p := &gpt.Partition{Index: i, Start: at, End: at + bytes/sector - 1, Size: bytes, Type: typ, Name: name}
		at += bytes / sector
		return p
	}
	// The backup GPT takes the last 33 sectors; the data partition ends
	// on the alignment before them.
	dataBytes := uint64(size) - alignment - espSize - 2*rootSize - alignment
	table := &gpt.Table{
		LogicalSectorSize: sector, PhysicalSectorSize: sector, ProtectiveMBR: true,
		Partitions: []*gpt.Partition{
			part(1, ESPName, gpt.EFISystemPartition, espSize),
			part(2, RootAName, gpt.LinuxFilesystem, rootSize),
			part(3, RootBName, gpt.LinuxFilesystem, rootSize),
			part(4, DataName, gpt.LinuxFilesystem, dataBytes),
		},
	}
	if err := d.Partition(table); err != nil {
		return fmt.Errorf("writing the partition table: %w", err)
	}
	esp, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 1, FSType: filesystem.TypeFat32, VolumeLabel: "AINATIVE"})
	if err != nil {
		return fmt.Errorf("EFI system partition: %w", err)
	}
	initrdCmdline := append([]string{`\vmlinuz`, `initrd=\initrd`}, DiskCmdline(m.Arch)...)
	initrdCmdline = append(initrdCmdline, update.SlotParam+"=a")
	loader, err := efiboot.ChainLoader(m.Arch, initrdCmdline[0], initrdCmdline[1:])
	if err != nil {
		return err
	}
	if err := esp.Mkdir("/EFI/BOOT"); err != nil {
		return fmt.Errorf("EFI system partition: %w", err)
	}
	files := []struct{ name, src, text string }{
		{name: "/vmlinuz", src: filepath.Join(dir, m.Kernel)},
		{name: "/initrd", src: filepath.Join(dir, m.Initramfs)},
		{name: efiboot.RemovablePath(m.Arch), text: string(loader)},
		{name: "/startup.nsh", text: strings.Join(initrdCmdline, " ") + "\r\n"},
	}
	for _, fl := range files {
		if err := copyIntoFS(esp, fl.name, fl.src, fl.text); err != nil {
			return fmt.Errorf("EFI system partition: %w", err)
		}
	}
	if err := writeSlotA(f, dir, int64(table.Partitions[1].Start)*sector, rootSize); err != nil {
		return err
	}
	dataStart := int64(table.Partitions[3].Start) * sector
	if err := datafs.FormatAt(f, dataStart, int64(dataBytes)); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// copyIntoFS writes the file src (or text, when src is empty) to name
// in fs.
func copyIntoFS(fs filesystem.FileSystem, name, src, text string) error {
	out, err := fs.OpenFile(name, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var in io.Reader = strings.NewReader(text)
	if src != "" {
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// writeSlotA installs the image's system into slot A through a bundle,
// the path an update takes, so that both write slots alike.
func writeSlotA(disk *os.File, dir string, start, size int64) error {
	bundle, err := os.CreateTemp(filepath.Dir(disk.Name()), ".slot-a.bundle*")
	if err != nil {
		return err
	}
	defer os.Remove(bundle.Name())
	defer bundle.Close()
	if _, err := writeBundle(bundle, dir, "", nil); err != nil {
		return err
	}
	if _, err := bundle.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := update.WriteSlot(file.New(disk, false), start, size, "AINATIVE-A", bundle, nil, nil, nil); err != nil {
		return fmt.Errorf("slot A: %w", err)
	}
	return nil
}

// WriteUpdateBundle writes the update bundle of the image in dir to path
// (`ainative update` installs it), signed with key when key is not nil,
// and returns its manifest. version "" means a hash of its files.
func WriteUpdateBundle(path, dir, version string, key ed25519.PrivateKey) (m *update.SlotManifest, err error) {
	err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
		m, err = writeBundle(w, dir, version, key)
		return err
	})
	return m, err
}

func writeBundle(w io.Writer, dir, version string, key ed25519.PrivateKey) (*update.SlotManifest, error) {
	im, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if efiboot.RemovablePath(im.Arch) == "" {
		return nil, fmt.Errorf("update bundles are for amd64 and arm64 disk images; the image in %s is %s", dir, im.Arch)
	}
	if im.ModelsDisk != "" {
		return nil, fmt.Errorf("the image in %s has a models disk, which slots do not hold yet", dir)
	}
	paths, order := update.BundleFiles(filepath.Join(dir, im.Kernel), filepath.Join(dir, im.Initramfs))
	m, err := update.NewManifest(version, im.Arch, DiskCmdline(im.Arch), paths, order)
	if err != nil {
		return nil, err
	}
	return m, update.WriteBundle(w, m, paths, key)
}

// DiskArch returns the architecture of the system on a disk image that
// WriteDisk wrote, from the manifest of slot A or, when A holds none,
// slot B.
func DiskArch(path string) (string, error) {
	d, err := diskfs.Open(path, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		return "", err
	}
	defer d.Close()
	table, ok := d.Table.(*gpt.Table)
	if !ok || len(table.Partitions) < 3 || table.Partitions[1].Name != RootAName || table.Partitions[2].Name != RootBName {
		return "", fmt.Errorf("%s is not an ainative disk image (no GPT with its root slots)", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var firstErr error
	for _, p := range table.Partitions[1:3] {
		m, err := update.ReadSlot(file.New(f, true), int64(p.Start)*512, int64(p.Size))
		if err == nil {
			return m.Arch, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", fmt.Errorf("%s: slot A: %v", path, firstErr)
}
