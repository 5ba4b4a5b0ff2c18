package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockPoll is how often a waiting lock tries again: flock cannot wait on
// a context, so waiting is a loop of non-blocking tries.
const lockPoll = 50 * time.Millisecond

// flock locks path (created if missing) with flock(2), which the kernel
// releases when the process dies, kill -9 included: a crashed pull never
// leaves a lock behind. waiting, if not nil, is called once when the lock
// is busy.
func flock(ctx context.Context, path string, how int, waiting func()) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if waiting != nil {
			waiting()
			waiting = nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}

// The store lock is held shared by everything that adds blobs and names
// them (pull, import, copy) and exclusively by Prune, so that Prune never
// deletes a blob that a running pull has fetched but not yet named.
func (s *Store) storeLockPath() string { return filepath.Join(s.dir, "tmp", "store.lock") }

func (s *Store) lockShared(ctx context.Context) (func(), error) {
	return flock(ctx, s.storeLockPath(), syscall.LOCK_SH, nil)
}

func (s *Store) tryLockExclusive() (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(s.storeLockPath(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return func() { f.Close() }, true, nil
}

const lockExclusive = syscall.LOCK_EX
