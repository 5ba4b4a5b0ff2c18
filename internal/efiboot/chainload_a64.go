package efiboot

import (
	"encoding/binary"
	"fmt"
)

// arm64Loader is the AArch64 code (AAPCS64: arguments in x0-x7, x19-x28
// and the frame record preserved). The stack frame holds the frame
// record, x19-x22, and three locals.
func arm64Loader(tail, options []byte) ([]byte, error) {
	const (
		frame = 80
		varLI = 48 // EFI_LOADED_IMAGE_PROTOCOL *
		varDP = 56 // EFI_DEVICE_PATH_PROTOCOL *
		varKH = 64 // the kernel's image handle
		sp    = 31 // sp as a base register
		xzr   = 31 // the zero register as a source or destination
	)
	var a a64
	a.w(0xa9800000 | imm7(-frame/8)<<15 | 30<<10 | sp<<5 | 29) // stp x29, x30, [sp, #-frame]!
	a.w(0x91000000 | sp<<5 | 29)                               // mov x29, sp
	a.w(0xa9000000 | imm7(2)<<15 | 20<<10 | sp<<5 | 19)        // stp x19, x20, [sp, #16]
	a.w(0xa9000000 | imm7(4)<<15 | 22<<10 | sp<<5 | 21)        // stp x21, x22, [sp, #32]
	a.w(orr(19, 0))                                            // mov x19, x0 (ImageHandle)
	a.w(ldrX(20, 1, stBootServices))                           // ldr x20, [x1, #BootServices]

	// HandleProtocol(ImageHandle, &LOADED_IMAGE, &li)
	a.w(orr(0, 19))
	a.adr(1, "guidLI")
	a.w(addImm(2, sp, varLI))
	a.call(bsHandleProtocol)
	a.cbnz(0, "fail")

	// HandleProtocol(li->DeviceHandle, &DEVICE_PATH, &dp)
	a.w(ldrX(0, sp, varLI))
	a.w(ldrX(0, 0, liDeviceHandle))
	a.adr(1, "guidDP")
	a.w(addImm(2, sp, varDP))
	a.call(bsHandleProtocol)
	a.cbnz(0, "fail")

	// Copy dp's nodes up to its end node into buf (x1 source, x2
	// destination, x3 the limit), refusing a node shorter than its
	// header or a path longer than buf leaves room for.
	a.w(ldrX(1, sp, varDP))
	a.adr(2, "buf")
	a.adr(3, "bufLimit")
	a.label("copy")
	a.w(0x39400000 | 1<<5 | 4)              // ldrb w4, [x1]
	a.w(0x71000000 | 0x7f<<10 | 4<<5 | xzr) // cmp w4, #0x7f (end of path)
	a.bcond(condEQ, "copied")               // b.eq copied
	a.w(0x79400000 | 1<<10 | 1<<5 | 5)      // ldrh w5, [x1, #2] (node length)
	a.w(0x71000000 | 4<<10 | 5<<5 | xzr)    // cmp w5, #4
	a.bcond(condLO, "fail")                 // b.lo fail
	a.w(0x8b000000 | 5<<16 | 2<<5 | 6)      // add x6, x2, x5
	a.w(0xeb000000 | 3<<16 | 6<<5 | xzr)    // cmp x6, x3
	a.bcond(condHI, "fail")                 // b.hi fail
	a.label("node")
	a.w(0x38400400 | 1<<12 | 1<<5 | 4) // ldrb w4, [x1], #1
	a.w(0x38000400 | 1<<12 | 2<<5 | 4) // strb w4, [x2], #1
	a.w(0x71000000 | 1<<10 | 5<<5 | 5) // subs w5, w5, #1
	a.bcond(condNE, "node")            // b.ne node
	a.jump("copy")
	a.label("copied")
	// Append File(file) and the end node, prebuilt in tail.
	a.adr(1, "tail")
	a.w(movz(5, uint16(len(tail)), false)) // mov w5, #len(tail)
	a.label("tailcopy")
	a.w(0x38400400 | 1<<12 | 1<<5 | 4) // ldrb w4, [x1], #1
	a.w(0x38000400 | 1<<12 | 2<<5 | 4) // strb w4, [x2], #1
	a.w(0x71000000 | 1<<10 | 5<<5 | 5) // subs w5, w5, #1
	a.bcond(condNE, "tailcopy")

	// LoadImage(FALSE, ImageHandle, buf, NULL, 0, &kernel)
	a.w(movz(0, 0, true))
	a.w(orr(1, 19))
	a.adr(2, "buf")
	a.w(movz(3, 0, true))
	a.w(movz(4, 0, true))
	a.w(addImm(5, sp, varKH))
	a.call(bsLoadImage)
	a.cbnz(0, "fail")

	// HandleProtocol(kernel, &LOADED_IMAGE, &kli); set its LoadOptions.
	a.w(ldrX(0, sp, varKH))
	a.adr(1, "guidLI")
	a.w(addImm(2, sp, varLI))
	a.call(bsHandleProtocol)
	a.cbnz(0, "fail")
	a.w(ldrX(0, sp, varLI))
	a.w(movz(1, uint16(len(options)), false))          // mov w1, #len(options)
	a.w(0xb9000000 | (liOptionsSize/4)<<10 | 0<<5 | 1) // str w1, [x0, #LoadOptionsSize]
	a.adr(1, "options")
	a.w(0xf9000000 | (liOptions/8)<<10 | 0<<5 | 1) // str x1, [x0, #LoadOptions]

	// return StartImage(kernel, NULL, NULL)
	a.w(ldrX(0, sp, varKH))
	a.w(movz(1, 0, true))
	a.w(movz(2, 0, true))
	a.call(bsStartImage)
	a.jump("out")

	a.label("fail")
	a.w(movz(0, 1, true))                   // mov x0, #1
	a.w(0xf2800000 | 3<<21 | 0x8000<<5 | 0) // movk x0, #0x8000, lsl #48: EFI_LOAD_ERROR
	a.label("out")
	a.w(0xa9400000 | imm7(4)<<15 | 22<<10 | sp<<5 | 21)       // ldp x21, x22, [sp, #32]
	a.w(0xa9400000 | imm7(2)<<15 | 20<<10 | sp<<5 | 19)       // ldp x19, x20, [sp, #16]
	a.w(0xa8c00000 | imm7(frame/8)<<15 | 30<<10 | sp<<5 | 29) // ldp x29, x30, [sp], #frame
	a.w(0xd65f03c0)                                           // ret

	a.constants(0, tail, options)
	return a.link(textRVA)
}

// Condition codes of b.cond.
const (
	condEQ = 0x0
	condNE = 0x1
	condLO = 0x3
	condHI = 0x8
)

func imm7(v int) uint32 { return uint32(v) & 0x7f }

// orr is mov xd, xm (orr xd, xzr, xm).
func orr(d, m uint32) uint32 { return 0xaa0003e0 | m<<16 | d }

// ldrX is ldr xt, [xn, #off] (unsigned offset, a multiple of 8).
func ldrX(t, n, off uint32) uint32 { return 0xf9400000 | (off/8)<<10 | n<<5 | t }

// addImm is add xd, xn, #imm.
func addImm(d, n, imm uint32) uint32 { return 0x91000000 | imm<<10 | n<<5 | d }

// movz is mov xd (or wd when !x), #imm.
func movz(d uint32, imm uint16, x bool) uint32 {
	op := uint32(0x52800000)
	if x {
		op = 0xd2800000
	}
	return op | uint32(imm)<<5 | d
}

// a64 assembles AArch64 code: its references are the PC-relative
// fields of instructions.
type a64 struct{ code }

// Fixup kinds: the PC-relative fields of adr (imm21), b.cond and cbnz
// (imm19, in words), and b, which jump emits (imm26, in words).
const (
	fixADR = iota
	fixImm19
	fixImm26
)

func (a *a64) w(ins uint32) { a.raw32(ins) }

func (a *a64) fix(kind byte, label string, ins uint32) {
	a.refer(kind, label)
	a.w(ins)
}

func (a *a64) adr(d uint32, label string)      { a.fix(fixADR, label, 0x10000000|d) }
func (a *a64) bcond(cond uint32, label string) { a.fix(fixImm19, label, 0x54000000|cond) }
func (a *a64) cbnz(t uint32, label string)     { a.fix(fixImm19, label, 0xb5000000|t) }
func (a *a64) jump(label string)               { a.fix(fixImm26, label, 0x14000000) }

// call emits ldr x9, [x20, #off]; blr x9: a boot service, x20 holding
// the table.
func (a *a64) call(off uint32) {
	a.w(ldrX(9, 20, off))
	a.w(0xd63f0000 | 9<<5)
}

func (a *a64) link(rva uint32) ([]byte, error) {
	return a.code.link(rva, func(f fixup, off int64) error {
		ins := binary.LittleEndian.Uint32(a.b[f.at:])
		switch f.kind {
		case fixADR:
			if off < -1<<20 || off >= 1<<20 {
				return fmt.Errorf("chain loader: %s out of adr's range", f.label)
			}
			ins |= uint32(off&3)<<29 | uint32(off>>2&0x7ffff)<<5
		case fixImm19:
			ins |= uint32(off>>2&0x7ffff) << 5
		case fixImm26:
			ins |= uint32(off >> 2 & 0x3ffffff)
		}
		binary.LittleEndian.PutUint32(a.b[f.at:], ins)
		return nil
	})
}
