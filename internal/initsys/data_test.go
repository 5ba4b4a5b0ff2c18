package initsys

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindPartition(t *testing.T) {
	dir := t.TempDir()
	for name, uevent := range map[string]string{
		"vda":  "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n",
		"vda1": "MAJOR=254\nMINOR=1\nDEVNAME=vda1\nDEVTYPE=partition\nPARTN=1\nPARTNAME=ainative-esp\n",
		"vda4": "MAJOR=254\nMINOR=4\nDEVNAME=vda4\nDEVTYPE=partition\nPARTN=4\nPARTNAME=ainative-data\n",
	} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "uevent"), []byte(uevent), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := findPartition(dir, "ainative-data"); got != "/dev/vda4" {
		t.Errorf("findPartition(ainative-data) = %q, want /dev/vda4", got)
	}
	if got := findPartition(dir, "ainative"); got != "" {
		t.Errorf("findPartition(ainative) = %q, want none", got)
	}
}

func TestFullMessage(t *testing.T) {
	for _, c := range []struct {
		name                              string
		bsize, blocks, avail, files, free uint64
		want                              string
	}{
		{"roomy", 4096, 1 << 20, 1 << 18, 1000, 900, ""},
		{"no room", 4096, 16384, 10, 1000, 900, "data disk is full: 40 KiB free of 64 MiB at /d"},
		{"no inodes", 4096, 16384, 8192, 1000, 0, "data disk is full: no free inodes (all 1000 used) at /d"},
		{"inodes not counted", 4096, 16384, 8192, 0, 0, ""},
	} {
		got := fullMessage("/d", c.bsize, c.blocks, c.avail, c.files, c.free)
		if c.want == "" && got != "" || c.want != "" && !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestWarnIfFullOnARoomyDirectory(t *testing.T) {
	var logs bytes.Buffer
	warnIfFull(slog.New(slog.NewTextHandler(&logs, nil)), t.TempDir())
	if strings.Contains(logs.String(), "full") {
		t.Errorf("a temporary directory reported full: %s", logs.String())
	}
	warnIfFull(slog.New(slog.NewTextHandler(&logs, nil)), "/nonexistent/dir")
	if !strings.Contains(logs.String(), "cannot tell its free space") {
		t.Errorf("a missing directory not reported: %s", logs.String())
	}
}
