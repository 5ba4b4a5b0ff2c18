package efiboot

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// ChainLoader returns a UEFI application for arch (amd64 or arm64: a
// PE32+ image) that starts file, a path on the partition it was itself
// loaded from, with args as its LoadOptions, the way a boot entry made by
// KernelOption would. Placed on the EFI system partition at
// RemovablePath(arch) it is what firmware without a boot entry for the
// disk starts (the UEFI spec's removable-media path, 3.5.1.1): a fresh
// machine, a USB stick, a cloud VM booting a raw disk.
//
// The kernel's EFI stub cannot take that place itself: started by the
// firmware with no LoadOptions it has no initrd= and no command line.
// The loader is about 300 bytes of machine code (the arm64 version is
// in chainload_a64.go), generated here rather than taken from a boot
// loader project, so that building a disk image needs no host tool and
// no binary blob:
//
//	HandleProtocol(ImageHandle, LOADED_IMAGE)   -> li
//	HandleProtocol(li.DeviceHandle, DEVICE_PATH) -> dp
//	buf = dp without its end node + File(file) + End
//	LoadImage(FALSE, ImageHandle, buf, NULL, 0) -> kernel
//	HandleProtocol(kernel, LOADED_IMAGE)         -> kli
//	kli.LoadOptions = args (UCS-2)
//	return StartImage(kernel)
//
// Any failure returns the firmware's status, and the firmware goes on to
// its next boot option. The code is position-independent (PC-relative),
// so the image needs no relocations wherever the firmware loads it.
func ChainLoader(arch, file string, args []string) ([]byte, error) {
	if !strings.HasPrefix(file, `\`) || strings.ContainsAny(file, "/\x00") {
		return nil, fmt.Errorf("chain loader: file %q: want an absolute path with backslashes", file)
	}
	options := UCS2(strings.Join(args, " "))
	tail := deviceNode(4, 4, UCS2(file))  // File(file): media, file path
	tail = append(tail, 0x7f, 0xff, 4, 0) // End of entire device path
	if len(tail) > 1024 || len(options) > 8192 {
		return nil, fmt.Errorf("chain loader: path or command line too long")
	}
	var gen func(tail, options []byte) ([]byte, error)
	var machine uint16
	switch arch {
	case "amd64":
		gen, machine = amd64Loader, 0x8664
	case "arm64":
		gen, machine = arm64Loader, 0xaa64
	default:
		return nil, fmt.Errorf("chain loader: architecture %q: want amd64 or arm64", arch)
	}
	code, err := gen(tail, options)
	if err != nil {
		return nil, err
	}
	return pe32plus(machine, code, bufSize), nil
}

// RemovablePath is where firmware with no boot entry for a disk looks
// for a boot program on its EFI system partition (UEFI spec 2.10,
// 3.5.1.1).
func RemovablePath(arch string) string {
	switch arch {
	case "amd64":
		return `/EFI/BOOT/BOOTX64.EFI`
	case "arm64":
		return `/EFI/BOOT/BOOTAA64.EFI`
	}
	return ""
}

// Offsets in the firmware's tables (UEFI spec 2.10, 4.3 and 4.4, 9.1),
// the same on both architectures: EFI_SYSTEM_TABLE.BootServices,
// EFI_BOOT_SERVICES' HandleProtocol, LoadImage and StartImage, and
// EFI_LOADED_IMAGE_PROTOCOL's DeviceHandle, LoadOptionsSize and
// LoadOptions.
const (
	stBootServices   = 0x60
	bsHandleProtocol = 0x98
	bsLoadImage      = 0xc8
	bsStartImage     = 0xd0
	liDeviceHandle   = 0x18
	liOptionsSize    = 0x30
	liOptions        = 0x38
)

// bufSize is the writable buffer for the kernel's device path: the
// copied nodes and the tail.
const bufSize = 4096

var (
	guidLoadedImage = guid(0x5b1b31a1, 0x9562, 0x11d2, 0x8e, 0x3f, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b)
	guidDevicePath  = guid(0x09576e91, 0x6d3f, 0x11d2, 0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b)
)

// amd64Loader is the x86-64 code (Microsoft x64 calling convention).
func amd64Loader(tail, options []byte) ([]byte, error) {
	var a asm
	// Stack frame: 32 bytes of shadow space, two stack arguments, and
	// three locals; 4 pushes + 0x58 keep rsp 16-byte aligned at calls.
	const (
		frame   = 0x58
		argSize = 0x20 // 5th argument of LoadImage
		argOut  = 0x28 // 6th
		varLI   = 0x40 // EFI_LOADED_IMAGE_PROTOCOL *
		varDP   = 0x48 // EFI_DEVICE_PATH_PROTOCOL *
		varKH   = 0x50 // the kernel's image handle
	)
	a.raw(0x53)                             // push rbx
	a.raw(0x56)                             // push rsi
	a.raw(0x57)                             // push rdi
	a.raw(0x41, 0x54)                       // push r12
	a.raw(0x48, 0x83, 0xec, frame)          // sub rsp, frame
	a.raw(0x48, 0x8b, 0x5a, stBootServices) // mov rbx, [rdx+BootServices]
	a.raw(0x49, 0x89, 0xcc)                 // mov r12, rcx (ImageHandle)

	// HandleProtocol(ImageHandle, &LOADED_IMAGE, &li)
	a.raw(0x4c, 0x89, 0xe1) // mov rcx, r12
	a.lea(0x48, leaRDX, "guidLI")
	a.raw(0x4c, 0x8d, 0x44, 0x24, varLI) // lea r8, [rsp+varLI]
	a.callBS(bsHandleProtocol)
	a.failIfError()

	// HandleProtocol(li->DeviceHandle, &DEVICE_PATH, &dp)
	a.raw(0x48, 0x8b, 0x44, 0x24, varLI)    // mov rax, [rsp+varLI]
	a.raw(0x48, 0x8b, 0x48, liDeviceHandle) // mov rcx, [rax+DeviceHandle]
	a.lea(0x48, leaRDX, "guidDP")
	a.raw(0x4c, 0x8d, 0x44, 0x24, varDP) // lea r8, [rsp+varDP]
	a.callBS(bsHandleProtocol)
	a.failIfError()

	// Copy dp's nodes up to its end node into buf, refusing a node
	// shorter than its header or a path longer than buf leaves room for.
	a.raw(0x48, 0x8b, 0x74, 0x24, varDP) // mov rsi, [rsp+varDP]
	a.lea(0x48, leaRDI, "buf")
	a.lea(0x48, leaRCX, "bufLimit")
	a.raw(0x49, 0x89, 0xc9) // mov r9, rcx
	a.label("copy")
	a.raw(0x80, 0x3e, 0x7f)       // cmp byte [rsi], 0x7f (end of path)
	a.jcc(0x84, "copied")         // je copied
	a.raw(0x0f, 0xb7, 0x4e, 0x02) // movzx ecx, word [rsi+2] (node length)
	a.raw(0x83, 0xf9, 0x04)       // cmp ecx, 4
	a.jcc(0x82, "fail")           // jb fail
	a.raw(0x48, 0x8d, 0x04, 0x0f) // lea rax, [rdi+rcx]
	a.raw(0x4c, 0x39, 0xc8)       // cmp rax, r9
	a.jcc(0x87, "fail")           // ja fail
	a.raw(0xf3, 0xa4)             // rep movsb
	a.jmp("copy")
	a.label("copied")
	// Append File(file) and the end node, prebuilt in tail.
	a.lea(0x48, leaRSI, "tail")
	a.raw(0xb9)
	a.raw32(uint32(len(tail))) // mov ecx, len(tail)
	a.raw(0xf3, 0xa4)          // rep movsb

	// LoadImage(FALSE, ImageHandle, buf, NULL, 0, &kernel)
	a.raw(0x31, 0xc9)       // xor ecx, ecx
	a.raw(0x4c, 0x89, 0xe2) // mov rdx, r12
	a.lea(0x4c, leaR8, "buf")
	a.raw(0x45, 0x31, 0xc9)                            // xor r9d, r9d
	a.raw(0x48, 0xc7, 0x44, 0x24, argSize, 0, 0, 0, 0) // mov qword [rsp+argSize], 0
	a.raw(0x48, 0x8d, 0x44, 0x24, varKH)               // lea rax, [rsp+varKH]
	a.raw(0x48, 0x89, 0x44, 0x24, argOut)              // mov [rsp+argOut], rax
	a.callBS(bsLoadImage)
	a.failIfError()

	// HandleProtocol(kernel, &LOADED_IMAGE, &kli); set its LoadOptions.
	a.raw(0x48, 0x8b, 0x4c, 0x24, varKH) // mov rcx, [rsp+varKH]
	a.lea(0x48, leaRDX, "guidLI")
	a.raw(0x4c, 0x8d, 0x44, 0x24, varLI) // lea r8, [rsp+varLI]
	a.callBS(bsHandleProtocol)
	a.failIfError()
	a.raw(0x48, 0x8b, 0x44, 0x24, varLI) // mov rax, [rsp+varLI]
	a.raw(0xc7, 0x40, liOptionsSize)
	a.raw32(uint32(len(options))) // mov dword [rax+LoadOptionsSize], len
	a.lea(0x48, leaRCX, "options")
	a.raw(0x48, 0x89, 0x48, liOptions) // mov [rax+LoadOptions], rcx

	// return StartImage(kernel, NULL, NULL)
	a.raw(0x48, 0x8b, 0x4c, 0x24, varKH) // mov rcx, [rsp+varKH]
	a.raw(0x31, 0xd2)                    // xor edx, edx
	a.raw(0x45, 0x31, 0xc0)              // xor r8d, r8d
	a.callBS(bsStartImage)
	a.jmp("out")

	a.label("fail")
	a.raw(0x48, 0xb8) // mov rax, EFI_LOAD_ERROR
	a.raw64(1<<63 | 1)
	a.label("out")
	a.raw(0x48, 0x83, 0xc4, frame) // add rsp, frame
	a.raw(0x41, 0x5c)              // pop r12
	a.raw(0x5f)                    // pop rdi
	a.raw(0x5e)                    // pop rsi
	a.raw(0x5b)                    // pop rbx
	a.raw(0xc3)                    // ret

	a.constants(0xcc, tail, options)
	return a.link(textRVA)
}

// deviceNode encodes one device path node: type, subtype, length, data.
func deviceNode(typ, sub byte, data []byte) []byte {
	b := []byte{typ, sub, 0, 0}
	binary.LittleEndian.PutUint16(b[2:], uint16(4+len(data)))
	return append(b, data...)
}

// guid encodes an EFI_GUID from its C initializer.
func guid(d1 uint32, d2, d3 uint16, d4 ...byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, d1)
	b = binary.LittleEndian.AppendUint16(b, d2)
	b = binary.LittleEndian.AppendUint16(b, d3)
	return append(b, d4...)
}

// The image's layout: headers, then .text (code and constants) and
// .data (the device path buffer), each at a page of its own so that
// firmware enforcing W^X can map code read-only and data non-executable.
const (
	fileAlign = 0x200
	textRVA   = 0x1000
	dataRVA   = 0x2000
)

func pe32plus(machine uint16, text []byte, dataSize uint32) []byte {
	textRaw := roundUp(uint32(len(text)), fileAlign)
	dataRaw := roundUp(dataSize, fileAlign)
	imageSize := dataRVA + roundUp(dataSize, 0x1000)
	le := binary.LittleEndian
	h := make([]byte, fileAlign)
	copy(h, "MZ")
	le.PutUint32(h[0x3c:], 0x40) // e_lfanew
	copy(h[0x40:], "PE\x00\x00")
	coff := h[0x44:]
	le.PutUint16(coff[0:], machine)
	le.PutUint16(coff[2:], 2)    // NumberOfSections
	le.PutUint16(coff[16:], 240) // SizeOfOptionalHeader
	// EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE; not RELOCS_STRIPPED, so
	// that the firmware may load it anywhere (the code needs no fixups).
	le.PutUint16(coff[18:], 0x0022)
	opt := coff[20:]
	le.PutUint16(opt[0:], 0x20b) // PE32+
	le.PutUint32(opt[4:], textRaw)
	le.PutUint32(opt[8:], dataRaw)
	le.PutUint32(opt[16:], textRVA) // AddressOfEntryPoint: the code's start
	le.PutUint32(opt[20:], textRVA) // BaseOfCode
	le.PutUint64(opt[24:], 0x10000000)
	le.PutUint32(opt[32:], 0x1000)    // SectionAlignment
	le.PutUint32(opt[36:], fileAlign) // FileAlignment
	le.PutUint32(opt[56:], imageSize)
	le.PutUint32(opt[60:], fileAlign) // SizeOfHeaders
	le.PutUint16(opt[68:], 10)        // Subsystem: EFI application
	le.PutUint16(opt[70:], 0x0100)    // DllCharacteristics: NX_COMPAT
	le.PutUint64(opt[72:], 0x10000)   // stack reserve/commit, heap (unused by EFI)
	le.PutUint64(opt[80:], 0x10000)
	le.PutUint64(opt[88:], 0x10000)
	le.PutUint64(opt[96:], 0x10000)
	le.PutUint32(opt[108:], 16) // NumberOfRvaAndSizes, all empty
	sec := opt[240:]
	section := func(s []byte, name string, vsize, rva, raw, ptr, flags uint32) {
		copy(s, name)
		le.PutUint32(s[8:], vsize)
		le.PutUint32(s[12:], rva)
		le.PutUint32(s[16:], raw)
		le.PutUint32(s[20:], ptr)
		le.PutUint32(s[36:], flags)
	}
	section(sec[0:], ".text", uint32(len(text)), textRVA, textRaw, fileAlign, 0x60000020) // CODE | EXECUTE | READ
	section(sec[40:], ".data", dataSize, dataRVA, dataRaw, fileAlign+textRaw, 0xc0000040) // INITIALIZED_DATA | READ | WRITE
	out := make([]byte, fileAlign+textRaw+dataRaw)
	copy(out, h)
	copy(out[fileAlign:], text)
	return out
}

func roundUp(n, to uint32) uint32 { return (n + to - 1) / to * to }

// code is machine code being assembled: its bytes, its labels (offsets
// in b, or RVAs for externs) and the fields that refer to them, which
// link patches once every label is known.
type code struct {
	b       []byte
	labels  map[string]uint32
	externs map[string]bool
	fixups  []fixup
}

type fixup struct {
	at    int  // offset of the instruction or field in b
	kind  byte // what to patch, for the architecture's patch function
	label string
}

func (c *code) raw(b ...byte)  { c.b = append(c.b, b...) }
func (c *code) raw32(v uint32) { c.b = binary.LittleEndian.AppendUint32(c.b, v) }
func (c *code) raw64(v uint64) { c.b = binary.LittleEndian.AppendUint64(c.b, v) }

func (c *code) label(name string) {
	if c.labels == nil {
		c.labels = map[string]uint32{}
	}
	c.labels[name] = uint32(len(c.b))
}

// extern defines a label outside the code: an RVA in the image.
func (c *code) extern(name string, rva uint32) {
	c.label(name)
	c.labels[name] = rva
	if c.externs == nil {
		c.externs = map[string]bool{}
	}
	c.externs[name] = true
}

func (c *code) align(n int, pad byte) {
	for len(c.b)%n != 0 {
		c.raw(pad)
	}
}

// constants appends what the code reads, after the code in the same
// section (padded with pad): the GUIDs, tail and options, and defines
// buf, the writable section, and bufLimit, the last byte a copied node
// may end at.
func (c *code) constants(pad byte, tail, options []byte) {
	c.align(8, pad)
	c.label("guidLI") // EFI_LOADED_IMAGE_PROTOCOL_GUID
	c.raw(guidLoadedImage...)
	c.label("guidDP") // EFI_DEVICE_PATH_PROTOCOL_GUID
	c.raw(guidDevicePath...)
	c.label("tail")
	c.raw(tail...)
	c.align(2, pad)
	c.label("options")
	c.raw(options...)
	c.extern("buf", dataRVA)
	c.extern("bufLimit", dataRVA+bufSize-uint32(len(tail)))
}

func (c *code) refer(kind byte, label string) {
	c.fixups = append(c.fixups, fixup{len(c.b), kind, label})
}

// link places the code at rva and patches each fixup with patch, given
// the distance from the fixup's position to its label.
func (c *code) link(rva uint32, patch func(f fixup, dist int64) error) ([]byte, error) {
	for _, f := range c.fixups {
		target, ok := c.labels[f.label]
		if !ok {
			return nil, fmt.Errorf("chain loader: undefined label %s", f.label)
		}
		if !c.externs[f.label] {
			target += rva
		}
		if err := patch(f, int64(target)-int64(rva)-int64(f.at)); err != nil {
			return nil, err
		}
	}
	return c.b, nil
}

// asm assembles x86-64 code: its references are rel32 fields (jumps,
// RIP-relative addresses), relative to the end of the field.
type asm struct{ code }

func (a *asm) rel32(label string) {
	a.refer(0, label)
	a.raw32(0)
}

func (a *asm) link(rva uint32) ([]byte, error) {
	return a.code.link(rva, func(f fixup, dist int64) error {
		binary.LittleEndian.PutUint32(a.b[f.at:], uint32(dist-4))
		return nil
	})
}

// lea emits lea reg, [rip+label]: rex is REX.W (0x48), with REX.R
// (0x4c) for r8-r15; modrm holds the register with mod 00 and r/m 101.
func (a *asm) lea(rex, modrm byte, label string) {
	a.raw(rex, 0x8d, modrm)
	a.rel32(label)
}

// The registers lea loads.
const (
	leaRCX = 0x0d
	leaRDX = 0x15
	leaRSI = 0x35
	leaRDI = 0x3d
	leaR8  = 0x05 // with REX 0x4c
)

// callBS emits call [rbx+off]: a boot service, rbx holding the table.
func (a *asm) callBS(off uint32) {
	a.raw(0xff, 0x93)
	a.raw32(off)
}

// failIfError emits test rax, rax; jnz fail: an EFI_STATUS other than
// EFI_SUCCESS ends the loader.
func (a *asm) failIfError() {
	a.raw(0x48, 0x85, 0xc0)
	a.jcc(0x85, "fail")
}

// jcc emits a conditional near jump (0f op rel32).
func (a *asm) jcc(op byte, label string) {
	a.raw(0x0f, op)
	a.rel32(label)
}

func (a *asm) jmp(label string) {
	a.raw(0xe9)
	a.rel32(label)
}
