package efiboot

import (
	"bytes"
	"debug/pe"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"
)

// TestChainLoaderImage reads the loader back as a PE file and checks what
// firmware checks before it runs it: machine, subsystem, sections within
// the file and the image, entry point in the code.
func TestChainLoaderImage(t *testing.T) {
	for arch, machine := range map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64} {
		t.Run(arch, func(t *testing.T) { checkImage(t, arch, machine) })
	}
}

func checkImage(t *testing.T, arch string, machine uint16) {
	b, err := ChainLoader(arch, `\vmlinuz`, []string{`initrd=\initrd`, "console=ttyS0"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if f.Machine != machine {
		t.Errorf("machine %#x", f.Machine)
	}
	if f.Characteristics&pe.IMAGE_FILE_RELOCS_STRIPPED != 0 {
		t.Error("relocations stripped: firmware could only load it at its image base")
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		t.Fatalf("optional header %T, want PE32+", f.OptionalHeader)
	}
	if oh.Subsystem != pe.IMAGE_SUBSYSTEM_EFI_APPLICATION {
		t.Errorf("subsystem %d", oh.Subsystem)
	}
	if len(f.Sections) != 2 || f.Sections[0].Name != ".text" || f.Sections[1].Name != ".data" {
		t.Fatalf("sections %v", f.Sections)
	}
	text, data := f.Sections[0], f.Sections[1]
	if text.Characteristics&pe.IMAGE_SCN_MEM_WRITE != 0 || data.Characteristics&pe.IMAGE_SCN_MEM_EXECUTE != 0 {
		t.Error("a section is both writable and executable")
	}
	for _, s := range f.Sections {
		if int(s.Offset+s.Size) > len(b) || s.VirtualAddress+max(s.VirtualSize, s.Size) > oh.SizeOfImage {
			t.Errorf("section %s out of bounds", s.Name)
		}
	}
	if oh.AddressOfEntryPoint != text.VirtualAddress {
		t.Errorf("entry %#x, code at %#x", oh.AddressOfEntryPoint, text.VirtualAddress)
	}
	code, err := text.Data()
	if err != nil {
		t.Fatal(err)
	}
	// The file path node and the command line are in the constants.
	if !bytes.Contains(code, append([]byte{4, 4, 22, 0}, UCS2(`\vmlinuz`)...)) {
		t.Error("no File(\\vmlinuz) device path node")
	}
	if !bytes.Contains(code, UCS2(`initrd=\initrd console=ttyS0`)) {
		t.Error("no command line")
	}
}

// wantListing is the loader's code as x86asm decodes it (Intel syntax),
// with jump targets and RIP-relative addresses replaced by their labels. It pins the encoding: an
// instruction that decodes to something else, or runs into the
// constants, fails here rather than in firmware.
var wantListing = `
push rbx
push rsi
push rdi
push r12
sub rsp, 0x58
mov rbx, qword ptr [rdx+0x60]
mov r12, rcx
mov rcx, r12
lea rdx, ptr [rip+guidLI]
lea r8, ptr [rsp+0x40]
call qword ptr [rbx+0x98]
test rax, rax
jnz fail
mov rax, qword ptr [rsp+0x40]
mov rcx, qword ptr [rax+0x18]
lea rdx, ptr [rip+guidDP]
lea r8, ptr [rsp+0x48]
call qword ptr [rbx+0x98]
test rax, rax
jnz fail
mov rsi, qword ptr [rsp+0x48]
lea rdi, ptr [rip+buf]
lea rcx, ptr [rip+bufLimit]
mov r9, rcx
cmp byte ptr [rsi], 0x7f
jz copied
movzx ecx, word ptr [rsi+0x2]
cmp ecx, 0x4
jb fail
lea rax, ptr [rdi+rcx]
cmp rax, r9
jnbe fail
rep movsb byte ptr [rdi], byte ptr [rsi]
jmp copy
lea rsi, ptr [rip+tail]
mov ecx, 0x1a
rep movsb byte ptr [rdi], byte ptr [rsi]
xor ecx, ecx
mov rdx, r12
lea r8, ptr [rip+buf]
xor r9d, r9d
mov qword ptr [rsp+0x20], 0x0
lea rax, ptr [rsp+0x50]
mov qword ptr [rsp+0x28], rax
call qword ptr [rbx+0xc8]
test rax, rax
jnz fail
mov rcx, qword ptr [rsp+0x50]
lea rdx, ptr [rip+guidLI]
lea r8, ptr [rsp+0x40]
call qword ptr [rbx+0x98]
test rax, rax
jnz fail
mov rax, qword ptr [rsp+0x40]
mov dword ptr [rax+0x30], 0x3a
lea rcx, ptr [rip+options]
mov qword ptr [rax+0x38], rcx
mov rcx, qword ptr [rsp+0x50]
xor edx, edx
xor r8d, r8d
call qword ptr [rbx+0xd0]
jmp out
mov rax, 0x8000000000000001
add rsp, 0x58
pop r12
pop rdi
pop rsi
pop rbx
ret
`

// wantListingA64 is the arm64 loader's code as arm64asm decodes it (GNU
// syntax), labels as in wantListing.
var wantListingA64 = `
stp x29, x30, [sp,#-80]!
mov x29, sp
stp x19, x20, [sp,#16]
stp x21, x22, [sp,#32]
mov x19, x0
ldr x20, [x1,#96]
mov x0, x19
adr x1, guidLI
add x2, sp, #0x30
ldr x9, [x20,#152]
blr x9
cbnz x0, fail
ldr x0, [sp,#48]
ldr x0, [x0,#24]
adr x1, guidDP
add x2, sp, #0x38
ldr x9, [x20,#152]
blr x9
cbnz x0, fail
ldr x1, [sp,#56]
adr x2, buf
adr x3, bufLimit
ldrb w4, [x1]
cmp w4, #0x7f
b.eq copied
ldrh w5, [x1,#2]
cmp w5, #0x4
b.cc fail
add x6, x2, x5
cmp x6, x3
b.hi fail
ldrb w4, [x1],#1
strb w4, [x2],#1
subs w5, w5, #0x1
b.ne node
b copy
adr x1, tail
mov w5, #0x1a
ldrb w4, [x1],#1
strb w4, [x2],#1
subs w5, w5, #0x1
b.ne tailcopy
mov x0, #0x0
mov x1, x19
adr x2, buf
mov x3, #0x0
mov x4, #0x0
add x5, sp, #0x40
ldr x9, [x20,#200]
blr x9
cbnz x0, fail
ldr x0, [sp,#64]
adr x1, guidLI
add x2, sp, #0x30
ldr x9, [x20,#152]
blr x9
cbnz x0, fail
ldr x0, [sp,#48]
mov w1, #0x3e
str w1, [x0,#48]
adr x1, options
str x1, [x0,#56]
ldr x0, [sp,#64]
mov x1, #0x0
mov x2, #0x0
ldr x9, [x20,#208]
blr x9
b out
mov x0, #0x1
movk x0, #0x8000, lsl #48
ldp x21, x22, [sp,#32]
ldp x19, x20, [sp,#16]
ldp x29, x30, [sp],#80
ret
`

// TestChainLoaderCode decodes each architecture's loader with
// golang.org/x/arch and compares it with the listings above, so that an
// encoding mistake, a jump to the wrong place or code running into the
// constants fails here rather than in firmware.
func TestChainLoaderCode(t *testing.T) {
	for _, c := range []struct {
		arch, console, want string
		labels              map[string]string // code label: its first instruction
	}{
		{"amd64", "ttyS0", wantListing, map[string]string{"copy": "cmp byte ptr [rsi], 0x7f",
			"copied": "lea rsi, ptr [rip+", "fail": "mov rax, 0x8000000000000001", "out": "add rsp, 0x58"}},
		{"arm64", "ttyAMA0", wantListingA64, map[string]string{"copy": "ldrb w4, [x1]",
			"node": "ldrb w4, [x1],#1", "copied": "adr x1, .+0xb8", "tailcopy": "ldrb w4, [x1],#1@2",
			"fail": "mov x0, #0x1", "out": "ldp x21, x22"}},
	} {
		t.Run(c.arch, func(t *testing.T) {
			options := []string{`initrd=\initrd`, "console=" + c.console}
			b, err := ChainLoader(c.arch, `\vmlinuz`, options)
			if err != nil {
				t.Fatal(err)
			}
			f, err := pe.NewFile(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			code, err := f.Sections[0].Data()
			if err != nil {
				t.Fatal(err)
			}
			code = code[:f.Sections[0].VirtualSize]
			rva := uint64(f.Sections[0].VirtualAddress)

			lines := disassemble(t, c.arch, code, rva)

			// Name the addresses: constants where their bytes are, the
			// buffer in the data section, code labels where their first
			// instruction is ("@2": its second occurrence).
			names := map[uint64]string{}
			find := func(name string, b []byte) {
				i := bytes.Index(code, b)
				if i < 0 {
					t.Fatalf("%s not in the code section", name)
				}
				names[rva+uint64(i)] = name
			}
			find("guidLI", guidLoadedImage)
			find("guidDP", guidDevicePath)
			tail := append(deviceNode(4, 4, UCS2(`\vmlinuz`)), 0x7f, 0xff, 4, 0)
			find("tail", tail)
			find("options", UCS2(strings.Join(options, " ")))
			data := uint64(f.Sections[1].VirtualAddress)
			names[data] = "buf"
			names[data+bufSize-uint64(len(tail))] = "bufLimit"
			for name, first := range c.labels {
				nth := 1
				if i := strings.Index(first, "@"); i >= 0 {
					nth, _ = strconv.Atoi(first[i+1:])
					first = first[:i]
				}
				for _, l := range lines {
					if strings.HasPrefix(l.text, first) {
						if nth--; nth == 0 {
							names[l.pc] = name
							break
						}
					}
				}
			}

			// Rewrite targets as names: x86's [rip+D] (from the next
			// instruction) and absolute jump targets, arm64's .+D (from
			// the instruction itself).
			ripRel := regexp.MustCompile(`\[rip\+(0x[0-9a-f]+)\]`)
			jump := regexp.MustCompile(`^(j[a-z]+) (0x[0-9a-f]+)$`)
			pcRel := regexp.MustCompile(`\.\+(0x[0-9a-f]+)$`)
			name := func(target uint64) string {
				if n, ok := names[target&0xffffffff]; ok {
					return n
				}
				return fmt.Sprintf("%#x", target)
			}
			var got []string
			for _, l := range lines {
				s := l.text
				if m := ripRel.FindStringSubmatchIndex(s); m != nil {
					d, _ := strconv.ParseUint(s[m[2]:m[3]], 0, 64)
					s = s[:m[0]] + "[rip+" + name(l.next+d) + "]" + s[m[1]:]
				} else if m := jump.FindStringSubmatch(s); m != nil {
					d, _ := strconv.ParseUint(m[2], 0, 64)
					s = m[1] + " " + name(d)
				} else if m := pcRel.FindStringSubmatchIndex(s); m != nil {
					d, _ := strconv.ParseUint(s[m[2]:m[3]], 0, 64)
					s = s[:m[0]] + name(l.pc+d)
				}
				got = append(got, s)
			}
			if g, w := strings.Join(got, "\n"), strings.TrimSpace(c.want); g != w {
				t.Errorf("code:\n%s\nwant:\n%s", g, w)
			}
		})
	}
}

// line is one decoded instruction: its address, the next one's, and
// its text.
type line struct {
	pc, next uint64
	text     string
}

// disassemble decodes the code at rva up to its ret.
func disassemble(t *testing.T, arch string, code []byte, rva uint64) []line {
	t.Helper()
	var lines []line
	for pc := 0; pc < len(code); {
		var text string
		var n int
		var ret bool
		switch arch {
		case "amd64":
			inst, err := x86asm.Decode(code[pc:], 64)
			if err != nil {
				t.Fatalf("at %#x: %v", pc, err)
			}
			text, n, ret = x86asm.IntelSyntax(inst, rva+uint64(pc), nil), inst.Len, inst.Op == x86asm.RET
		case "arm64":
			inst, err := arm64asm.Decode(code[pc:])
			if err != nil {
				t.Fatalf("at %#x: %v", pc, err)
			}
			text, n, ret = arm64asm.GNUSyntax(inst), 4, inst.Op == arm64asm.RET
		}
		lines = append(lines, line{rva + uint64(pc), rva + uint64(pc+n), text})
		pc += n
		if ret {
			break
		}
	}
	return lines
}

// TestChainLoaderRefuses checks the paths the loader cannot hold.
func TestChainLoaderRefuses(t *testing.T) {
	if _, err := ChainLoader("riscv64", `\k`, nil); err == nil {
		t.Error("riscv64 accepted")
	}
	for _, file := range []string{"vmlinuz", "/vmlinuz", "\\a\x00b", ""} {
		if _, err := ChainLoader("amd64", file, nil); err == nil {
			t.Errorf("ChainLoader(%q) accepted", file)
		}
	}
	if _, err := ChainLoader("amd64", `\k`, []string{strings.Repeat("x", 5000)}); err == nil {
		t.Error("a 5000-character command line was accepted")
	}
}
