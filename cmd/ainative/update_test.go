package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/update"
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

func TestUpdateCheck(t *testing.T) {
	dir := t.TempDir()
	k, i := filepath.Join(dir, "k"), filepath.Join(dir, "i")
	os.WriteFile(k, []byte("kernel"), 0o644)
	os.WriteFile(i, []byte("initrd"), 0o644)
	paths, order := update.BundleFiles(k, i)
	m, err := update.NewManifest("v7", "amd64", nil, paths, order)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	var b bytes.Buffer
	if err := update.WriteBundle(&b, m, paths, priv); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "b.bundle")
	os.WriteFile(bundle, b.Bytes(), 0o644)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pubPath := filepath.Join(dir, "pub.pem")
	os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	der, _ = x509.MarshalPKIXPublicKey(otherPub)
	otherPath := filepath.Join(dir, "other.pem")
	os.WriteFile(otherPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)

	run := func(args ...string) (string, error) {
		cmd := newUpdateCmd()
		var out bytes.Buffer
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := run("--check", "--public-key", pubPath, bundle)
	if err != nil || !strings.Contains(out, "version v7") || !strings.Contains(out, "signature checked: true") {
		t.Errorf("check with the right key: %q %v", out, err)
	}
	if _, err := run("--check", "--public-key", otherPath, bundle); err == nil || !strings.Contains(err.Error(), "signature does not match") {
		t.Errorf("check with another key: %v", err)
	}
	os.WriteFile(bundle, b.Bytes()[:bytes.LastIndex(b.Bytes(), []byte("initrd"))+3], 0o644)
	if _, err := run("--check", "--public-key", pubPath, bundle); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("check of a truncated bundle: %v", err)
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
