package qemu

import (
	"bytes"
	"strconv"
	"sync"

	"github.com/raym33/ainative/internal/initsys"
)

// Exit statuses of `ainative vm` besides the guest command's own (with
// -c) and 0 for a clean power-off; they follow timeout(1) and
// `docker run`. A command that itself exits with one of them is reported
// with that status too: the message on standard error tells them apart.
const (
	ExitGuestFailure = 123 // PID 1 reported a failure, or -c's status never came
	ExitTimeout      = 124 // --timeout elapsed; QEMU was killed
	ExitHost         = 125 // the VM could not run (QEMU missing, image build failed)
	ExitPanic        = 126 // guest kernel panic or unexpected reset
)

// CommandStatus finds the status PID 1 prints on the console after the
// command of `vm -c` (initsys.CommandStatusPrefix), the last one wins.
func CommandStatus(console []byte) (int, bool) {
	i := bytes.LastIndex(console, []byte(initsys.CommandStatusPrefix))
	if i < 0 {
		return 0, false
	}
	rest := console[i+len(initsys.CommandStatusPrefix):]
	end := bytes.IndexAny(rest, "\r\n")
	if end < 0 {
		return 0, false // cut off before the end of the line
	}
	n, err := strconv.Atoi(string(rest[:end]))
	if err != nil || n < 0 || n > 255 {
		return 0, false
	}
	return n, true
}

// ExitStatus maps how the VM ended to the exit status of `ainative vm`
// and, when it is not a plain success, a message saying what happened.
func ExitStatus(o Outcome, hasCommand bool, console []byte) (int, string) {
	switch o {
	case Clean:
		if !hasCommand {
			return 0, ""
		}
		if st, ok := CommandStatus(console); ok {
			return st, ""
		}
		return ExitGuestFailure, "the guest powered off without reporting the command's status"
	case Failure:
		return ExitGuestFailure, "PID 1 reported a failure (see the console log)"
	case Reset:
		msg := "guest kernel panic or unexpected reset"
		if bytes.Contains(console, []byte("Kernel panic")) {
			msg = "guest kernel panic"
		}
		return ExitPanic, msg + " (QEMU's monitor quit, Ctrl-A x, ends the same way)"
	case Killed:
		return ExitTimeout, "the VM was killed (timeout)"
	}
	return ExitHost, "QEMU failed (see its messages above)"
}

// Tail is an io.Writer that keeps the last Max bytes written to it: the
// console log, printed when something fails, without unbounded growth.
type Tail struct {
	Max int
	mu  sync.Mutex
	buf []byte // up to 2*Max bytes, of which the last Max count
}

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	// Trimming to Max at every write would move Max bytes per write (a
	// serial console writes a few bytes at a time); trimming once the
	// buffer is twice that moves each byte at most once.
	if t.Max > 0 && len(t.buf) > 2*t.Max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.Max:]...)
	}
	return len(p), nil
}

// Bytes returns a copy of what is kept.
func (t *Tail) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if t.Max > 0 && len(b) > t.Max {
		b = b[len(b)-t.Max:]
	}
	return bytes.Clone(b)
}
