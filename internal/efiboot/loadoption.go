// Package efiboot encodes UEFI boot entries and reads and writes the
// firmware's boot variables through Linux's efivarfs. It is what lets a
// running system choose what the firmware boots next, on any UEFI
// machine, without a boot loader or a UEFI shell:
//
//   - Boot#### holds an EFI_LOAD_OPTION (UEFI spec 2.10, section 3.1.3):
//     which file on which partition to start, and the options passed to
//     it (for the kernel's EFI stub, its command line in UCS-2).
//   - BootOrder lists the Boot#### numbers the firmware tries, in order.
//   - BootNext, when set, is tried once at the next boot; the firmware
//     deletes it before starting the entry, so a failed boot falls back
//     to BootOrder at the following reset ("try once").
//   - BootCurrent is the entry the firmware booted this time.
package efiboot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/google/uuid"
)

// LoadOptionActive is the EFI_LOAD_OPTION attribute of an entry the
// firmware may boot.
const LoadOptionActive = 0x00000001

// Device path node types and subtypes used here (UEFI spec 10.3).
const (
	typeMedia        = 0x04
	subHardDrive     = 0x01
	subFilePath      = 0x04
	typeEnd          = 0x7f
	subEndEntire     = 0xff
	hardDriveNodeLen = 42
	partitionFmtGPT  = 0x02
	signatureGUID    = 0x02
)

// Partition is a GPT partition as a HD() device path node names it: the
// firmware finds it on any disk by its unique GUID, wherever the disk is
// attached.
type Partition struct {
	Number     uint32 // 1-based index in the partition table
	StartLBA   uint64 // first logical block
	SizeLBA    uint64 // length in logical blocks
	UniqueGUID string // the partition's GUID, "xxxxxxxx-xxxx-..."
}

// LoadOption is a decoded EFI_LOAD_OPTION.
type LoadOption struct {
	Attributes  uint32
	Description string
	// FilePath is the device path list: the partition and the file.
	Partition Partition
	File      string // e.g. \vmlinuz
	// OptionalData is passed to the started image as its LoadOptions.
	OptionalData []byte
}

// KernelOption is the load option that starts the Linux kernel at file
// (its EFI stub) on partition p with the command line args. The stub
// reads its LoadOptions as a UCS-2 string.
func KernelOption(description string, p Partition, file string, args []string) LoadOption {
	return LoadOption{
		Attributes:   LoadOptionActive,
		Description:  description,
		Partition:    p,
		File:         file,
		OptionalData: UCS2(strings.Join(args, " ")),
	}
}

// UCS2 encodes s as NUL-terminated little-endian UTF-16, the firmware's
// CHAR16 strings.
func UCS2(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return append(b, 0, 0)
}

// guidBytes encodes a GUID in the firmware's mixed-endian layout: the
// first three fields little-endian, the last eight bytes as written.
func guidBytes(s string) ([16]byte, error) {
	var out [16]byte
	u, err := uuid.Parse(s)
	if err != nil {
		return out, fmt.Errorf("partition GUID %q: %w", s, err)
	}
	out[0], out[1], out[2], out[3] = u[3], u[2], u[1], u[0]
	out[4], out[5] = u[5], u[4]
	out[6], out[7] = u[7], u[6]
	copy(out[8:], u[8:])
	return out, nil
}

func guidString(b []byte) string {
	var u uuid.UUID
	u[0], u[1], u[2], u[3] = b[3], b[2], b[1], b[0]
	u[4], u[5] = b[5], b[4]
	u[6], u[7] = b[7], b[6]
	copy(u[8:], b[8:16])
	return u.String()
}

// MarshalBinary encodes the option as the firmware stores it in Boot####.
func (o LoadOption) MarshalBinary() ([]byte, error) {
	sig, err := guidBytes(o.Partition.UniqueGUID)
	if err != nil {
		return nil, err
	}
	if o.Partition.Number == 0 || o.Partition.SizeLBA == 0 {
		return nil, fmt.Errorf("partition %+v: number and size must not be 0", o.Partition)
	}
	if o.File == "" || !strings.HasPrefix(o.File, `\`) {
		return nil, fmt.Errorf("file %q: want an absolute path with backslashes, e.g. \\vmlinuz", o.File)
	}
	var path []byte
	path = append(path, typeMedia, subHardDrive)
	path = binary.LittleEndian.AppendUint16(path, hardDriveNodeLen)
	path = binary.LittleEndian.AppendUint32(path, o.Partition.Number)
	path = binary.LittleEndian.AppendUint64(path, o.Partition.StartLBA)
	path = binary.LittleEndian.AppendUint64(path, o.Partition.SizeLBA)
	path = append(path, sig[:]...)
	path = append(path, partitionFmtGPT, signatureGUID)
	name := UCS2(o.File)
	if 4+len(name) > 0xffff {
		return nil, fmt.Errorf("file path of %d bytes is too long", len(o.File))
	}
	path = append(path, typeMedia, subFilePath)
	path = binary.LittleEndian.AppendUint16(path, uint16(4+len(name)))
	path = append(path, name...)
	path = append(path, typeEnd, subEndEntire, 4, 0)

	var b []byte
	b = binary.LittleEndian.AppendUint32(b, o.Attributes)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(path)))
	b = append(b, UCS2(o.Description)...)
	b = append(b, path...)
	return append(b, o.OptionalData...), nil
}

// ParseLoadOption decodes an EFI_LOAD_OPTION written by MarshalBinary:
// one HD() node, one file path node, the end node. Other device paths
// (another tool's entries) are reported as an error, not guessed at.
func ParseLoadOption(b []byte) (LoadOption, error) {
	var o LoadOption
	if len(b) < 6 {
		return o, errors.New("load option: shorter than its header")
	}
	o.Attributes = binary.LittleEndian.Uint32(b)
	pathLen := int(binary.LittleEndian.Uint16(b[4:]))
	rest := b[6:]
	desc, n, err := readUCS2(rest)
	if err != nil {
		return o, fmt.Errorf("load option description: %w", err)
	}
	o.Description = desc
	rest = rest[n:]
	if pathLen > len(rest) {
		return o, fmt.Errorf("load option: device path of %d bytes, only %d left", pathLen, len(rest))
	}
	path, opt := rest[:pathLen], rest[pathLen:]
	o.OptionalData = bytes.Clone(opt)
	sawHD, sawFile := false, false
	for len(path) > 0 {
		if len(path) < 4 {
			return o, errors.New("load option: truncated device path node")
		}
		typ, sub, l := path[0], path[1], int(binary.LittleEndian.Uint16(path[2:]))
		if l < 4 || l > len(path) {
			return o, fmt.Errorf("load option: device path node of length %d with %d bytes left", l, len(path))
		}
		node := path[4:l]
		switch {
		case typ == typeMedia && sub == subHardDrive:
			if l != hardDriveNodeLen || node[36] != partitionFmtGPT || node[37] != signatureGUID {
				return o, errors.New("load option: not a GPT hard drive node")
			}
			o.Partition = Partition{
				Number:     binary.LittleEndian.Uint32(node),
				StartLBA:   binary.LittleEndian.Uint64(node[4:]),
				SizeLBA:    binary.LittleEndian.Uint64(node[12:]),
				UniqueGUID: guidString(node[20:36]),
			}
			sawHD = true
		case typ == typeMedia && sub == subFilePath:
			s, _, err := readUCS2(node)
			if err != nil {
				return o, fmt.Errorf("load option file path: %w", err)
			}
			o.File = s
			sawFile = true
		case typ == typeEnd && sub == subEndEntire:
			if l != 4 || len(path) != 4 {
				return o, errors.New("load option: data after the end node")
			}
			if !sawHD || !sawFile {
				return o, errors.New("load option: not a partition and file device path")
			}
			return o, nil
		default:
			return o, fmt.Errorf("load option: device path node type %#x subtype %#x is not one this package writes", typ, sub)
		}
		path = path[l:]
	}
	return o, errors.New("load option: device path without an end node")
}

// readUCS2 decodes a NUL-terminated UCS-2 string at the start of b and
// returns it and the bytes it took, the NUL included.
func readUCS2(b []byte) (string, int, error) {
	var u []uint16
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			return string(utf16.Decode(u)), i + 2, nil
		}
		u = append(u, c)
	}
	return "", 0, errors.New("string without a terminating NUL")
}

// DecodeUCS2 decodes a UCS-2 string, stopping at a NUL if there is one
// (the kernel command line in a load option's data).
func DecodeUCS2(b []byte) string {
	var u []uint16
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
