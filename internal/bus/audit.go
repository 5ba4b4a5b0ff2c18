package bus

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	busapi "github.com/raym33/ainative/client/bus"
)

// auditLog appends one JSON line per decision to a file opened O_APPEND
// (0600): records are only ever added, and a crash loses at most the line
// being written.
type auditLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func openAudit(path string) (*auditLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &auditLog{path: path, f: f}, nil
}

func (a *auditLog) add(r busapi.AuditRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("audit log %s: %w", a.path, err)
	}
	return nil
}

// query reads the log and returns matching records, oldest first, at
// most q.Limit (default 1000) of the newest.
func (a *auditLog) query(q busapi.AuditQuery) ([]busapi.AuditRecord, error) {
	f, err := os.Open(a.path)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer f.Close()
	limit := q.Limit
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	out := []busapi.AuditRecord{}
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
