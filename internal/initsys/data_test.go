package initsys

import (
	"os"
	"path/filepath"
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
