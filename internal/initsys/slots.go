package initsys

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/raym33/ainative/internal/efiboot"
	"github.com/raym33/ainative/internal/update"
)

// slotHealth commits the root slot PID 1 booted from once the system is
// healthy (package update): on every healthy boot it writes the slots'
// UEFI boot entries and puts the current slot first in BootOrder. A slot
// on trial (booted once through BootNext) that is not healthy within
// its deadline is abandoned: PID 1 reboots, and the firmware follows
// BootOrder back to the committed slot.
type slotHealth struct {
	log     *slog.Logger
	sys     *update.System
	ctx     context.Context
	current string
	trial   bool // booted once through BootNext, not committed yet
	healthy chan struct{}
	once    sync.Once
	// reboot restarts the machine; a field so tests need not.
	reboot func()
}

// startSlotHealth returns nil when this boot did not come from a slot
// (an initramfs booted by `vm`, a host). Otherwise it mounts efivarfs
// and, on a trial boot, starts the deadline.
func startSlotHealth(ctx context.Context, log *slog.Logger) *slotHealth {
	sys := &update.System{}
	cur := sys.Current()
	if cur == "" {
		return nil
	}
	if err := efiboot.Mount(); err != nil {
		log.Warn("booted from slot "+cur+", but its boot entries cannot be managed", "err", err)
		return nil
	}
	h := &slotHealth{ctx: ctx, log: log, sys: sys, current: cur, healthy: make(chan struct{}), reboot: rebootNow}
	committed, err := sys.Committed()
	if err != nil {
		log.Error("reading the boot order", "err", err)
	}
	h.trial = committed != "" && committed != cur
	log.Info("booted from slot "+cur, "committed", committed, "trial", h.trial)
	if h.trial {
		deadline := sys.HealthDeadline()
		go safely(log, "slot deadline", func() { h.watch(ctx, deadline, committed) })
	}
	return h
}

// watch reboots the machine unless it becomes healthy within deadline.
func (h *slotHealth) watch(ctx context.Context, deadline time.Duration, committed string) {
	t := time.NewTimer(deadline)
	defer t.Stop()
	select {
	case <-h.healthy:
	case <-ctx.Done():
	case <-t.C:
		h.log.Error("slot "+h.current+" on trial did not become healthy in time; rebooting into slot "+committed, "deadline", deadline)
		h.reboot()
	}
}

// onTrial reports whether this boot is a new slot's single try (h may
// be nil).
func (h *slotHealth) onTrial() bool { return h != nil && h.trial }

// markHealthy commits the current slot (once; h may be nil).
func (h *slotHealth) markHealthy() {
	if h == nil {
		return
	}
	h.once.Do(func() {
		close(h.healthy)
		changed, err := h.sys.Commit(h.ctx)
		if err != nil {
			h.log.Error("committing slot "+h.current, "err", err)
			return
		}
		if changed {
			h.log.Info("slot " + h.current + " committed: the firmware boots it from now on")
		} else {
			h.log.Info("slot " + h.current + " is the committed one")
		}
	})
}

func rebootNow() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
}
