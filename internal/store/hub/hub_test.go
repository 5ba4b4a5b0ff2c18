package hub_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/store/hub"
	"github.com/raym33/ainative/internal/store/hub/hubtest"
)

func client(srv *hubtest.Server) *hub.Client {
	return &hub.Client{Endpoint: srv.URL, HTTP: srv.Client()}
}

func TestListFilesPaginates(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	files := map[string]string{"README.md": "hi", "a-Q4_K_M.gguf": "aaaa", "sub/b-Q8_0.gguf": "bbbbbbbb", "c.gguf": "c"}
	for p, d := range files {
		srv.Add("owner/repo", p, []byte(d))
	}
	got, err := client(srv).ListFiles(context.Background(), "owner/repo", "")
	if err != nil {
		t.Fatal(err)
	}
	// 4 files and one directory entry, in pages of 2: three requests.
	if srv.Requests() != 3 {
		t.Errorf("%d requests, want 3 pages", srv.Requests())
	}
	if len(got) != len(files) {
		t.Fatalf("%d files listed, want %d: %+v", len(got), len(files), got)
	}
	for _, f := range got {
		sum := sha256.Sum256([]byte(files[f.Path]))
		if f.SHA256() != hex.EncodeToString(sum[:]) || f.LFS.Size != int64(len(files[f.Path])) {
			t.Errorf("%s: sha256 %q size %d", f.Path, f.SHA256(), f.LFS.Size)
		}
	}
}

func TestErrors(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	c := client(srv)
	_, err := c.ListFiles(context.Background(), "owner/missing", "main")
	if !errors.Is(err, hub.ErrNotFound) || !strings.Contains(err.Error(), "RepoNotFound") {
		t.Errorf("missing repository: %v", err)
	}
	if _, err := c.ListFiles(context.Background(), "../etc", "main"); err == nil || !strings.Contains(err.Error(), "OWNER/NAME") {
		t.Errorf("bad repository id: %v", err)
	}
	srv.Add("owner/gated", "m.gguf", []byte("x"))
	srv.SetToken("secret")
	_, err = c.ListFiles(context.Background(), "owner/gated", "main")
	if err == nil || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Errorf("gated repository without a token: %v", err)
	}
	c.Token = "secret"
	if _, err := c.ListFiles(context.Background(), "owner/gated", "main"); err != nil {
		t.Errorf("with the token: %v", err)
	}
	// The token goes to the hub, not to the CDN it redirects to (which
	// answers 400 if it gets one).
	d, err := c.Get(context.Background(), c.FileURL("owner/gated", "main", "m.gguf"), 0)
	if err != nil {
		t.Fatal(err)
	}
	d.Body.Close()
}

func TestGetRange(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	data := []byte("0123456789abcdef")
	srv.Add("o/r", "dir/x y.gguf", data)
	c := client(srv)
	u := c.FileURL("o/r", "main", "dir/x y.gguf")
	if !strings.HasSuffix(u, "/o/r/resolve/main/dir/x%20y.gguf") {
		t.Errorf("FileURL = %s", u)
	}
	d, err := c.Get(context.Background(), u, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(d.Body)
	d.Body.Close()
	sum := sha256.Sum256(data)
	if string(got) != "abcdef" || d.Offset != 10 || d.Size != 16 || d.LinkedETag != hex.EncodeToString(sum[:]) {
		t.Errorf("got %q offset %d size %d etag %q", got, d.Offset, d.Size, d.LinkedETag)
	}
	// From the end: the file was complete; past it: an error.
	d, err = c.Get(context.Background(), u, 16)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(d.Body); len(got) != 0 || d.Offset != 16 || d.Size != 16 {
		t.Errorf("from the end: %q offset %d size %d", got, d.Offset, d.Size)
	}
	if _, err := c.Get(context.Background(), u, 17); err == nil || !strings.Contains(err.Error(), "416") {
		t.Errorf("past the end: %v", err)
	}
	if _, err := c.Get(context.Background(), c.FileURL("o/r", "main", "nope.gguf"), 0); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("missing file: %v", err)
	}
}

func TestNextLink(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{`<https://h/api?cursor=x>; rel="next"`}, "https://h/api?cursor=x"},
		{[]string{`<https://h/a>; rel="prev", <https://h/b>; rel=next`}, "https://h/b"},
		{[]string{`<https://h/a>; rel="prev"`, `<https://h/c>; REL="next"`}, "https://h/c"},
		{[]string{`https://h/a; rel="next"`}, ""},
		{nil, ""},
	} {
		if got := hub.NextLink(tc.in); got != tc.want {
			t.Errorf("NextLink(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDecodeTree(t *testing.T) {
	good := `[{"type":"directory","oid":"1","size":0,"path":"d"},{"type":"file","oid":"2","size":3,"path":"d/a.gguf","lfs":{"oid":"` + strings.Repeat("ab", 32) + `","size":3,"pointerSize":134}}]`
	files, err := hub.DecodeTree([]byte(good))
	if err != nil || len(files) != 2 || files[1].SHA256() != strings.Repeat("ab", 32) {
		t.Fatalf("%+v, %v", files, err)
	}
	for _, bad := range []string{
		`{}`,
		`[{"type":"file","path":"../x.gguf"}]`,
		`[{"type":"file","path":"/etc/passwd"}]`,
		`[{"type":"file","path":"a//b"}]`,
		`[{"type":"file","path":"a","size":-1}]`,
		`[{"type":"file","path":"a","lfs":{"oid":"xyz","size":1}}]`,
	} {
		if _, err := hub.DecodeTree([]byte(bad)); err == nil {
			t.Errorf("DecodeTree(%s) accepted", bad)
		}
	}
}

func FuzzDecodeTree(f *testing.F) {
	f.Add([]byte(`[{"type":"file","oid":"2","size":3,"path":"d/a.gguf","lfs":{"oid":"` + strings.Repeat("ab", 32) + `","size":3}}]`))
	f.Add([]byte(`[{"type":"directory","path":".."}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := hub.DecodeTree(data)
		if err != nil {
			return
		}
		for _, fl := range files {
			if fl.Type != "file" {
				continue
			}
			if strings.HasPrefix(fl.Path, "/") || strings.Contains("/"+fl.Path+"/", "/../") || fl.Size < 0 {
				t.Fatalf("accepted unsafe entry %+v", fl)
			}
			if fl.LFS != nil && len(fl.SHA256()) != 64 {
				t.Fatalf("accepted lfs oid %q", fl.LFS.OID)
			}
		}
	})
}

func FuzzNextLink(f *testing.F) {
	f.Add(`<https://h/a>; rel="next"`)
	f.Add(`<>;rel=next,<x>`)
	f.Fuzz(func(t *testing.T, s string) {
		if got := hub.NextLink([]string{s}); got != "" && !strings.Contains(s, "<"+got+">") {
			t.Fatalf("NextLink(%q) = %q, not a target of the header", s, got)
		}
	})
}

func TestFromEnv(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("hf_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HF_HOME", dir)
	t.Setenv("HF_TOKEN_PATH", "")
	t.Setenv("HF_ENDPOINT", "http://mirror.example/")
	t.Setenv("HF_TOKEN", "hf_env")
	if c := hub.FromEnv(); c.Token != "hf_env" || c.Endpoint != "http://mirror.example" {
		t.Errorf("with HF_TOKEN: %+v", c)
	}
	os.Unsetenv("HF_TOKEN")
	if c := hub.FromEnv(); c.Token != "hf_file" {
		t.Errorf("token from $HF_HOME/token: %q", c.Token)
	}
	t.Setenv("HF_ENDPOINT", "")
	if c := hub.FromEnv(); c.Endpoint != hub.DefaultEndpoint {
		t.Errorf("default endpoint %q", c.Endpoint)
	}
}
