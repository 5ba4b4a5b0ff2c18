package bus

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"

	busapi "github.com/raym33/ainative/client/bus"
)

// Audit log rotation defaults: the log is capped at about
// (DefaultAuditKeep+1) * DefaultAuditMaxBytes on disk.
const (
	DefaultAuditMaxBytes = 16 << 20
	DefaultAuditKeep     = 4
)

// auditLog appends one JSON line per decision to a file opened O_APPEND
// (0600): records are only ever added, and a crash loses at most the line
// being written. When the file would pass maxBytes it is rotated: each
// PATH.i is renamed to PATH.i+1 (the oldest, PATH.keep, is replaced and
// so dropped), PATH to PATH.1, and a new PATH begins. Every rename is
// atomic, so each record is in exactly one file at any moment, and a
// crash between renames leaves at most a gap in the numbering, which
// query skips.
type auditLog struct {
	mu       sync.Mutex
	path     string
	f        *os.File
	size     int64
	maxBytes int64
	keep     int
}

func openAudit(path string, maxBytes int64, keep int) (*auditLog, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultAuditMaxBytes
	}
	if keep <= 0 {
		keep = DefaultAuditKeep
	}
	a := &auditLog{path: path, maxBytes: maxBytes, keep: keep}
	if err := a.open(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *auditLog) open() error {
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit log: %w", err)
	}
	a.f, a.size = f, fi.Size()
	return nil
}

func (a *auditLog) add(r busapi.AuditRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	var rotErr error
	if a.size > 0 && a.size+int64(len(b)) > a.maxBytes {
		// A failed rotation keeps the record: it goes to whichever
		// file is open.
		rotErr = a.rotate()
	}
	n, err := a.f.Write(b)
	a.size += int64(n)
	if err != nil {
		return fmt.Errorf("audit log %s: %w", a.path, err)
	}
	return rotErr
}

// rotated is the name of the i-th rotated file (0: the live one).
func (a *auditLog) rotated(i int) string {
	if i == 0 {
		return a.path
	}
	return a.path + "." + strconv.Itoa(i)
}

// rotate shifts the files by one and starts a new live file; a.mu is held.
func (a *auditLog) rotate() error {
	for i := a.keep - 1; i >= 0; i-- {
		if err := os.Rename(a.rotated(i), a.rotated(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("audit log rotation: %w", err)
		}
	}
	old := a.f
	if err := a.open(); err != nil {
		return err // old stays open: records go on into PATH.1
	}
	old.Close()
	return nil
}

// query reads the log, rotated files first, and returns matching
// records, oldest first, at most q.Limit (default 1000) of the newest.
func (a *auditLog) query(q busapi.AuditQuery) ([]busapi.AuditRecord, error) {
	limit := q.Limit
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	// Open every file while no rotation runs, so that the scan reads each
	// record once even if the files are renamed under it.
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	a.mu.Lock()
	for i := a.keep; i >= 0; i-- {
		f, err := os.Open(a.rotated(i))
		if errors.Is(err, fs.ErrNotExist) {
			continue // never made, or a gap left by a crash mid-rotation
		}
		if err != nil {
			a.mu.Unlock()
			return nil, fmt.Errorf("audit log: %w", err)
		}
		files = append(files, f)
	}
	a.mu.Unlock()
	out := []busapi.AuditRecord{}
	for _, f := range files {
		var err error
		if out, err = scanAudit(f, q, limit, out); err != nil {
			return nil, fmt.Errorf("audit log %s: %w", f.Name(), err)
		}
	}
	return out, nil
}

// scanAudit adds the matching records of one file to out, keeping the
// newest limit.
func scanAudit(f *os.File, q busapi.AuditQuery, limit int, out []busapi.AuditRecord) ([]busapi.AuditRecord, error) {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r busapi.AuditRecord
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue // a torn last line after a crash
		}
		if q.UID != nil && r.Caller.UID != *q.UID || q.Target != "" && r.Target != q.Target ||
			q.Decision != "" && r.Decision != q.Decision || !q.Since.IsZero() && r.Time.Before(q.Since) {
			continue
		}
		out = append(out, r)
		if len(out) > limit {
			out = out[1:]
		}
	}
	return out, sc.Err()
}

func (a *auditLog) close() error { return a.f.Close() }
