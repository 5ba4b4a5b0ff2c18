package initsys

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestSlotDeadline(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rebooted := 0
	h := &slotHealth{log: log, current: "b", healthy: make(chan struct{}), reboot: func() { rebooted++ }}
	// Never healthy: the deadline reboots, back to the committed slot.
	h.watch(context.Background(), time.Millisecond, "a")
	if rebooted != 1 {
		t.Fatalf("rebooted %d times after the deadline, want 1", rebooted)
	}
	// Healthy before the deadline: no reboot.
	close(h.healthy)
	h.watch(context.Background(), time.Hour, "a")
	if rebooted != 1 {
		t.Fatal("a healthy slot was rebooted")
	}
	// Shutting down: no reboot either.
	h2 := &slotHealth{log: log, current: "b", healthy: make(chan struct{}), reboot: func() { rebooted++ }}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h2.watch(ctx, time.Hour, "a")
	if rebooted != 1 {
		t.Fatal("rebooted after the context ended")
	}
	var none *slotHealth
	none.markHealthy() // a boot not from a slot: nothing to commit
	if none.onTrial() || h.onTrial() || !(&slotHealth{trial: true}).onTrial() {
		t.Error("onTrial")
	}
}
