package initsys

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// Linux input event constants (linux/input-event-codes.h).
const (
	evKey       = 1
	keyPower    = 116
	eventSize64 = 24 // struct input_event on 64-bit: timeval (16), type, code (2+2), value (4)
)

// watchPowerButton calls press when any input device reports the power
// key going down (an ACPI power button, or QEMU's system_powerdown). It
// reads the event devices directly: gokrazy uses an evdev library, but
// reading fixed-size events needs only a few lines.
func watchPowerButton(ctx context.Context, log *slog.Logger, press func()) {
	devs, _ := filepath.Glob("/dev/input/event*")
	for _, d := range devs {
		f, err := os.Open(d)
		if err != nil {
			continue
		}
		go safely(log, "power button", func() {
			<-ctx.Done()
			f.Close()
		})
		go safely(log, "power button", func() {
			defer f.Close()
			if scanPowerKey(f) {
				press()
			}
		})
	}
}

// scanPowerKey reads input events from r until the power key is pressed
// (true) or r fails (false).
func scanPowerKey(r io.Reader) bool {
	var ev [eventSize64]byte
	for {
		if _, err := io.ReadFull(r, ev[:]); err != nil {
			return false
		}
		typ := binary.LittleEndian.Uint16(ev[16:])
		code := binary.LittleEndian.Uint16(ev[18:])
		value := int32(binary.LittleEndian.Uint32(ev[20:]))
		if typ == evKey && code == keyPower && value == 1 {
			return true
		}
	}
}
