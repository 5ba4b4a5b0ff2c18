package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestDownloadBundle(t *testing.T) {
	body := strings.Repeat("bundle ", 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/b.tar" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, body)
	}))
	defer srv.Close()
	var errw bytes.Buffer
	p := newProgressPrinter(io.Discard, &errw, false)
	path, err := downloadBundle(context.Background(), srv.URL+"/b.tar", p)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	if b, err := os.ReadFile(path); err != nil || string(b) != body {
		t.Errorf("downloaded %d bytes, %v", len(b), err)
	}
	if !strings.Contains(errw.String(), "downloading") {
		t.Errorf("no progress: %q", errw.String())
	}
	if _, err := downloadBundle(context.Background(), srv.URL+"/missing", p); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing bundle: %v", err)
	}
}

func TestUpdateNeedsSlots(t *testing.T) {
	// This host was not booted from a disk image: a clear error, no change.
	cmd := newUpdateCmd()
	cmd.SetArgs([]string{"--status"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "ainative-root-a") {
		t.Errorf("update --status on a host: %v", err)
	}
}
