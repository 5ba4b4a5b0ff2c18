package initsys

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ModelsDir is where models are found in the image.
const ModelsDir = "/models"

// modelsDiskMount is where the SquashFS models disk is mounted; its files
// are linked into ModelsDir next to the models of the initramfs.
const modelsDiskMount = "/run/ainative/models-disk"

// mountModelsDisk waits for the models disk device (its driver may still
// be probing), mounts it read-only and links each model into /models.
func mountModelsDisk(ctx context.Context, dev string) error {
	if err := waitDevice(ctx, dev, 10*time.Second); err != nil {
		return fmt.Errorf("models disk: %w", err)
	}
	if err := os.MkdirAll(modelsDiskMount, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dev, modelsDiskMount, "squashfs", unix.MS_RDONLY|unix.MS_NODEV|unix.MS_NOSUID, ""); err != nil {
		return fmt.Errorf("mounting models disk %s: %w", dev, err)
	}
	entries, err := os.ReadDir(modelsDiskMount)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(ModelsDir, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		link := filepath.Join(ModelsDir, e.Name())
		if _, err := os.Lstat(link); err == nil {
			continue // a model of the initramfs wins
		}
		if err := os.Symlink(filepath.Join(modelsDiskMount, e.Name()), link); err != nil {
			return err
		}
	}
	return nil
}
