package bus

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	busapi "github.com/raym33/ainative/client/bus"
)

func auditRecord(i int) busapi.AuditRecord {
	return busapi.AuditRecord{Time: time.Unix(int64(i), 0).UTC(), Caller: busapi.Identity{UID: 1000}, Action: "tool",
		Target: fmt.Sprintf("t%04d", i), Decision: busapi.DecisionAllowed}
}

// seqs returns the record numbers of recs, failing t unless they
// increase one by one (nothing read twice, nothing missing in between).
func seqs(t *testing.T, recs []busapi.AuditRecord) (first, last int) {
	t.Helper()
	for i, r := range recs {
		n, err := strconv.Atoi(r.Target[1:])
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = n
		} else if n != last+1 {
			t.Fatalf("record %d follows %d", n, last)
		}
		last = n
	}
	return first, last
}

// The log rotates to PATH.1 ... PATH.keep under the size cap, drops the
// oldest file, and queries read across the files in order; a file lost
// between renames leaves a gap, not an error; reopening continues.
func TestAuditRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	const maxBytes, keep = 600, 2
	a, err := openAudit(path, maxBytes, keep)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := a.add(auditRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i <= keep+1; i++ {
		fi, err := os.Stat(a.rotated(i))
		if i > keep {
			if err == nil {
				t.Fatalf("%s exists beyond keep=%d", a.rotated(i), keep)
			}
			continue
		}
		if err != nil || fi.Size() > maxBytes || fi.Size() == 0 {
			t.Fatalf("%s: %v, %v: want 1 to %d bytes", a.rotated(i), fi, err, maxBytes)
		}
	}
	recs, err := a.query(busapi.AuditQuery{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	first, last := seqs(t, recs)
	if last != 39 || first == 0 {
		t.Fatalf("records %d..%d, want the newest up to 39 with the oldest dropped", first, last)
	}
	if recs, err := a.query(busapi.AuditQuery{Limit: 5}); err != nil || len(recs) != 5 || recs[4].Target != "t0039" {
		t.Fatalf("limit 5: %d records, %v", len(recs), err)
	}
	if err := a.close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(a.rotated(1)); err != nil {
		t.Fatal(err)
	}
	a, err = openAudit(path, maxBytes, keep)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	if recs, err = a.query(busapi.AuditQuery{Limit: 10000}); err != nil || len(recs) == 0 || recs[len(recs)-1].Target != "t0039" {
		t.Fatalf("with a gap: %d records, %v", len(recs), err)
	}
	for i := 40; i < 50; i++ {
		if err := a.add(auditRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() > maxBytes {
		t.Fatalf("after reopening the live file is %v, %v", fi, err)
	}
}

// Queries running while records are added and files rotated read each
// record once, in order.
func TestAuditRotationConcurrent(t *testing.T) {
	a, err := openAudit(filepath.Join(t.TempDir(), "audit.jsonl"), 2000, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 2000 {
			if err := a.add(auditRecord(i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 50 {
		recs, err := a.query(busapi.AuditQuery{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		seqs(t, recs)
	}
	wg.Wait()
}
