package qemu

import (
	"slices"
	"testing"
	"time"

	"github.com/raym33/ainative/internal/initsys"
)

func stepNames(tl BootTimeline) []string {
	var n []string
	for _, s := range tl.Steps {
		n = append(n, s.Name)
	}
	return n
}

func TestTimelinePutsGuestStagesOnTheHostClock(t *testing.T) {
	r := initsys.BootReport{Stages: []initsys.BootStage{
		{Name: initsys.StageInit, MS: 1000}, {Name: initsys.StageServices, MS: 1500}, {Name: initsys.StageRuntime, MS: 4000},
	}, Pending: []string{initsys.StageBus}}
	tl := Timeline("tcg", r, 2000, 4200)
	want := []string{StageQEMU, StageKernel, initsys.StageInit, initsys.StageServices, StagePrompt, initsys.StageRuntime}
	if got := stepNames(tl); !slices.Equal(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	wantMS := []float64{0, 2000, 3000, 3500, 4200, 6000}
	wantStep := []float64{0, 2000, 1000, 500, 700, 1800}
	for i, s := range tl.Steps {
		if s.MS != wantMS[i] || s.Step != wantStep[i] {
			t.Errorf("%s at %v (+%v), want %v (+%v)", s.Name, s.MS, s.Step, wantMS[i], wantStep[i])
		}
	}
	if !slices.Equal(tl.Pending, []string{initsys.StageBus}) || tl.Accel != "tcg" || tl.Boots != 1 {
		t.Errorf("timeline %+v", tl)
	}
	if got := stepNames(Timeline("tcg", r, 2000, -1)); slices.Contains(got, StagePrompt) {
		t.Errorf("a prompt never seen is in the timeline: %v", got)
	}
}

func TestMedianTimeline(t *testing.T) {
	mk := func(kernel, init float64, pending ...string) BootTimeline {
		return Timeline("tcg", initsys.BootReport{Stages: []initsys.BootStage{{Name: initsys.StageInit, MS: init}}, Pending: pending}, kernel, -1)
	}
	tl := MedianTimeline([]BootTimeline{mk(100, 10), mk(300, 30), mk(200, 50, initsys.StageBus)})
	if tl.Boots != 3 || !slices.Equal(stepNames(tl), []string{StageQEMU, StageKernel, initsys.StageInit}) {
		t.Fatalf("median timeline %+v", tl)
	}
	// kernel: median of 100, 300, 200; init: of 110, 330, 250.
	if tl.Steps[1].MS != 200 || tl.Steps[2].MS != 250 || tl.Steps[2].Step != 50 {
		t.Errorf("medians %+v", tl.Steps)
	}
	if !slices.Equal(tl.Pending, []string{initsys.StageBus}) {
		t.Errorf("pending %v", tl.Pending)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of an even count = %v", got)
	}
	if len(MedianTimeline(nil).Steps) != 0 {
		t.Error("median of no boots has stages")
	}
}

func TestPromptWatchSeesSplitPrompt(t *testing.T) {
	p := newPromptWatch(ShellPrompt, time.Now())
	for _, chunk := range []string{"boot noise ainative:", "/", "#"} {
		p.Write([]byte(chunk))
		if _, ok := p.when(); ok {
			t.Fatalf("prompt seen after %q", chunk)
		}
	}
	p.Write([]byte(" more"))
	if _, ok := p.when(); !ok {
		t.Fatal("prompt split across writes not seen")
	}
	select {
	case <-p.seen:
	default:
		t.Fatal("seen not closed")
	}
	q := newPromptWatch(ShellPrompt, time.Now())
	q.Write([]byte("ainative:/root# "))
	if _, ok := q.when(); ok {
		t.Error("another prompt taken for the first one")
	}
}
