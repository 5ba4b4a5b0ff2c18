package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raym33/ainative/internal/store/hub/hubtest"
)

// hubRepo fills a stand-in hub repository with three quantizations of
// one model and a projector file that is not a model.
func hubRepo(t *testing.T, srv *hubtest.Server, repo string, n int) map[string][]byte {
	files := map[string][]byte{}
	for _, q := range []string{"Q8_0", "Q4_K_M", "IQ4_XS"} {
		p := "model-3B-" + q + ".gguf"
		files[p] = synthGGUF(t, repo+q, n)
		srv.Add(repo, p, files[p])
	}
	srv.Add(repo, "mmproj-model-f16.gguf", synthGGUF(t, "mmproj", 8))
	srv.Add(repo, "README.md", []byte("# model"))
	return files
}

func TestPullHub(t *testing.T) {
	ctx := context.Background()
	srv := hubtest.New()
	defer srv.Close()
	files := hubRepo(t, srv, "owner/Model-GGUF", 256)
	s := newStore(t, srv)

	var events []Progress
	n, err := s.Pull(ctx, "hf.co/owner/Model-GGUF", PullOptions{Progress: func(p Progress) { events = append(events, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if n.String() != "hf.co/owner/Model-GGUF:latest" {
		t.Errorf("stored as %s", n)
	}
	m, err := s.Resolve(ctx, n.String())
	if err != nil {
		t.Fatal(err)
	}
	want := files["model-3B-Q4_K_M.gguf"]
	if got, _ := os.ReadFile(m.Paths[0]); string(got) != string(want) {
		t.Error("latest did not pull the Q4_K_M file")
	}
	if m.Manifest.Layers[0].Filename != "model-3B-Q4_K_M.gguf" || !strings.Contains(m.Manifest.Source, "owner/Model-GGUF@main:model-3B-Q4_K_M.gguf") {
		t.Errorf("manifest %+v", m.Manifest)
	}
	last := events[len(events)-1]
	if events[0].Status != "pulling manifest" || last.Status != "success" {
		t.Errorf("events %+v", events)
	}
	var done bool
	for _, e := range events {
		done = done || (e.Digest == digestOf(want) && e.Completed == int64(len(want)) && e.Total == int64(len(want)))
	}
	if !done {
		t.Errorf("no event reports the blob complete: %+v", events)
	}

	// A quantization by name, in any case; the shared blob is not fetched
	// again for a second name.
	if _, err := s.Pull(ctx, "hf.co/owner/Model-GGUF:iq4_xs", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	before := len(srv.Ranges())
	if _, err := s.Pull(ctx, "hf.co/owner/Model-GGUF:Q4_K_M", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(srv.Ranges()) != before {
		t.Error("a blob already stored was downloaded again")
	}
	if blobCount(t, s) != 2 {
		t.Errorf("%d blobs, want 2", blobCount(t, s))
	}
	_, err = s.Pull(ctx, "hf.co/owner/Model-GGUF:Q2_K", PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "IQ4_XS, Q4_K_M, Q8_0") {
		t.Errorf("unknown quantization: %v", err)
	}
	if _, err := s.Pull(ctx, "hf.co/owner/None", PullOptions{}); err == nil || !strings.Contains(err.Error(), "RepoNotFound") {
		t.Errorf("missing repository: %v", err)
	}
	if _, err := s.Pull(ctx, "mymodel", PullOptions{}); err == nil || !strings.Contains(err.Error(), "alias") {
		t.Errorf("pull of a local name: %v", err)
	}
}

func TestPullAlias(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	data := synthGGUF(t, "qwen", 32)
	srv.Add("Qwen/Qwen2.5-0.5B-Instruct-GGUF", "qwen2.5-0.5b-instruct-q4_k_m.gguf", data)
	srv.Add("Qwen/Qwen2.5-0.5B-Instruct-GGUF", "qwen2.5-0.5b-instruct-q8_0.gguf", synthGGUF(t, "qwen8", 32))
	s := newStore(t, srv)
	n, err := s.Pull(context.Background(), "qwen2.5:0.5b", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Resolve(context.Background(), "qwen2.5:0.5b")
	if err != nil || n.String() != "qwen2.5:0.5b" || m.Manifest.Layers[0].Digest != digestOf(data) {
		t.Fatalf("alias pulled as %s: %+v, %v", n, m, err)
	}
}

func TestPullSplit(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	var parts [][]byte
	for i := 1; i <= 3; i++ {
		parts = append(parts, synthGGUF(t, fmt.Sprint("part", i), 40, "split.no", uint16(i-1), "split.count", uint16(3)))
		srv.Add("o/Big-GGUF", fmt.Sprintf("Q8_0/Big-Q8_0-%05d-of-00003.gguf", i), parts[i-1])
	}
	// An incomplete split is not offered.
	srv.Add("o/Big-GGUF", "Q6_K/Big-Q6_K-00001-of-00002.gguf", synthGGUF(t, "q6", 8))
	s := newStore(t, srv)
	if _, err := s.Pull(context.Background(), "hf.co/o/Big-GGUF:Q6_K", PullOptions{}); err == nil {
		t.Error("an incomplete split GGUF was pulled")
	}
	if _, err := s.Pull(context.Background(), "hf.co/o/Big-GGUF", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := s.Resolve(context.Background(), "hf.co/o/Big-GGUF")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Paths) != 3 {
		t.Fatalf("%d blobs, want the 3 parts", len(m.Paths))
	}
	for i, p := range m.Paths {
		if got, _ := os.ReadFile(p); string(got) != string(parts[i]) {
			t.Errorf("blob %d is not part %d", i, i+1)
		}
	}
	info, err := s.Show(context.Background(), "hf.co/o/Big-GGUF")
	if err != nil || info.Tensors != 3 || info.Size != int64(len(parts[0])+len(parts[1])+len(parts[2])) {
		t.Errorf("show of the split model: %+v, %v", info, err)
	}
}

func TestPullURL(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	data := synthGGUF(t, "u", 32)
	srv.Add("o/r", "My_Model.Q5_K_M.gguf", data)
	s := newStore(t, srv)
	n, err := s.Pull(context.Background(), s.Hub.FileURL("o/r", "main", "My_Model.Q5_K_M.gguf"), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.String() != "my_model.q5_k_m:latest" {
		t.Errorf("named %s", n)
	}
	// Pulled again, under another name: the server's X-Linked-Etag shows
	// the file is stored, and its body is not read.
	if _, err := s.Pull(context.Background(), s.Hub.FileURL("o/r", "main", "My_Model.Q5_K_M.gguf"), PullOptions{Name: "again"}); err != nil {
		t.Fatal(err)
	}
	if blobCount(t, s) != 1 {
		t.Errorf("%d blobs, want 1", blobCount(t, s))
	}
	if left, _ := filepath.Glob(s.Dir() + "/tmp/*.partial"); len(left) != 0 {
		t.Errorf("partial files left: %v", left)
	}
	m, err := s.Resolve(context.Background(), n.String())
	if err != nil || m.Manifest.Layers[0].Digest != digestOf(data) {
		t.Fatalf("%+v, %v", m, err)
	}
	// The server's X-Linked-Etag is checked when the URL gives no digest.
	srv.Add("o/r", "bad.gguf", synthGGUF(t, "bad", 32))
	srv.SetCorrupt("bad.gguf")
	_, err = s.Pull(context.Background(), s.Hub.FileURL("o/r", "main", "bad.gguf"), PullOptions{Name: "bad"})
	if !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("corrupt URL download: %v", err)
	}
}

func TestPullWrongDigestRefused(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	srv.Add("o/r", "m-Q4_K_M.gguf", synthGGUF(t, "m", 64))
	srv.SetCorrupt("m-Q4_K_M.gguf")
	s := newStore(t, srv)
	_, err := s.Pull(context.Background(), "hf.co/o/r", PullOptions{})
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("pull of corrupt bytes: %v", err)
	}
	if blobCount(t, s) != 0 {
		t.Error("a corrupt blob was stored")
	}
	if _, err := s.Resolve(context.Background(), "hf.co/o/r"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a manifest was written: %v", err)
	}
	left, _ := filepath.Glob(s.Dir() + "/tmp/*.partial")
	if len(left) != 0 {
		t.Errorf("partial files left: %v", left)
	}
}

func TestPullRefetchesCorruptBlob(t *testing.T) {
	ctx := context.Background()
	srv := hubtest.New()
	defer srv.Close()
	data := synthGGUF(t, "m", 64)
	srv.Add("o/r", "m-Q4_K_M.gguf", data)
	s := newStore(t, srv)
	if _, err := s.Pull(ctx, "hf.co/o/r", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	blob := s.blobPath(digestOf(data))
	bad := append([]byte(nil), data...)
	bad[100] ^= 1
	tmp := writeFile(t, s.Dir(), "x", bad)
	if err := os.Rename(tmp, blob); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "hf.co/o/r"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("resolve of a corrupt blob: %v", err)
	}
	if _, err := s.Pull(ctx, "hf.co/o/r", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(blob); string(got) != string(data) {
		t.Error("the blob was not fetched again")
	}
	if len(srv.Ranges()) != 2 {
		t.Errorf("%d downloads, want 2", len(srv.Ranges()))
	}
	// Damaged in place, a pull with Verify finds and replaces it.
	f, _ := os.OpenFile(blob, os.O_WRONLY, 0)
	f.WriteAt([]byte{0}, 200)
	f.Close()
	if _, err := s.Pull(ctx, "hf.co/o/r", PullOptions{Verify: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "hf.co/o/r"); err != nil || len(srv.Ranges()) != 3 {
		t.Errorf("after a verifying pull: %v, %d downloads", err, len(srv.Ranges()))
	}
}

func TestPullResumesAfterCancel(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	data := synthGGUF(t, "m", 50000)
	srv.Add("o/r", "m-Q4_K_M.gguf", data)
	stall := int64(len(data) / 3)
	srv.SetStall(stall, nil)
	s := newStore(t, srv)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, err := s.Pull(ctx, "hf.co/o/r", PullOptions{})
		errc <- err
	}()
	<-srv.Stalled
	waitPartial(t, s, data, stall)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled pull: %v", err)
	}
	checkResume(t, s, srv, data)
}

// waitPartial waits until the stalled download has written all the
// server sent into its partial file.
func waitPartial(t *testing.T, s *Store, data []byte, size int64) {
	partial := filepath.Join(s.Dir(), "tmp", downloadKey(spec{digest: digestOf(data)})+".partial")
	for i := 0; ; i++ {
		if fi, err := os.Stat(partial); err == nil && fi.Size() == size {
			return
		}
		if i == 2000 {
			t.Fatalf("the partial file never reached %d bytes", size)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pullVerified pulls ref, checks the stored model against its digests
// and returns where the server's downloads started.
func pullVerified(t *testing.T, s *Store, srv *hubtest.Server, ref string) []int64 {
	t.Helper()
	if _, err := s.Pull(context.Background(), ref, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(context.Background(), ref); err != nil {
		t.Error(err)
	}
	return srv.Ranges()
}

// checkResume pulls again after an interrupted pull and checks that the
// download went on from where the partial file stops.
func checkResume(t *testing.T, s *Store, srv *hubtest.Server, data []byte) {
	t.Helper()
	partial := filepath.Join(s.Dir(), "tmp", downloadKey(spec{digest: digestOf(data)})+".partial")
	fi, err := os.Stat(partial)
	if err != nil || fi.Size() == 0 {
		t.Fatalf("no partial download kept: %v", err)
	}
	srv.SetStall(0, nil)
	ranges := pullVerified(t, s, srv, "hf.co/o/r")
	if ranges[len(ranges)-1] != fi.Size() {
		t.Errorf("downloads started at %v, want the last at %d", ranges, fi.Size())
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Error("the partial file outlived the pull")
	}
}

// TestPullResumesAfterKill kills a pulling process with SIGKILL, as a crash
// would, and resumes its download.
func TestPullResumesAfterKill(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	data := synthGGUF(t, "m", 50000)
	srv.Add("o/r", "m-Q4_K_M.gguf", data)
	stall := int64(len(data) / 2)
	srv.SetStall(stall, nil)
	s := newStore(t, srv)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPull$")
	cmd.Env = append(os.Environ(), "STORE_TEST_PULL_DIR="+s.Dir(), "HF_ENDPOINT="+srv.URL)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	<-srv.Stalled
	waitPartial(t, s, data, stall)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("the killed pull exited cleanly: %s", out)
	}
	checkResume(t, s, srv, data)
}

// TestHelperPull is the child process of TestPullResumesAfterKill.
func TestHelperPull(t *testing.T) {
	dir := os.Getenv("STORE_TEST_PULL_DIR")
	if dir == "" {
		t.Skip("only run as a child of TestPullResumesAfterKill")
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pull(context.Background(), "hf.co/o/r", PullOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestPullRestartsDamagedPartial(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	data := synthGGUF(t, "m", 1000)
	srv.Add("o/r", "m-Q4_K_M.gguf", data)
	s := newStore(t, srv)
	// A partial file whose bytes are wrong: the resumed download does not
	// verify, and the pull starts over once.
	bad := append([]byte(nil), data[:1000]...)
	bad[10] ^= 1
	writeFile(t, s.Dir()+"/tmp", downloadKey(spec{digest: digestOf(data)})+".partial", bad)
	if got := pullVerified(t, s, srv, "hf.co/o/r"); !slices.Equal(got, []int64{1000, 0}) {
		t.Errorf("downloads started at %v, want [1000 0]", got)
	}
}

func TestConcurrentPulls(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	data := synthGGUF(t, "m", 20000)
	srv.Add("o/r", "m-Q4_K_M.gguf", data)
	release := make(chan struct{})
	srv.SetStall(1000, release)
	a := newStore(t, srv)
	// A second handle on the same directory, as a second process has.
	b, err := Open(a.Dir())
	if err != nil {
		t.Fatal(err)
	}
	b.Hub = a.Hub

	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, errs[0] = a.Pull(context.Background(), "hf.co/o/r:Q4_K_M", PullOptions{})
	}()
	<-srv.Stalled // a holds the download's lock, part way through
	waiting := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, errs[1] = b.Pull(context.Background(), "hf.co/o/r:Q4_K_M", PullOptions{Progress: func(p Progress) {
			if strings.HasPrefix(p.Status, "waiting for another pull") {
				close(waiting)
			}
		}})
	}()
	<-waiting
	close(release)
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("pulls: %v, %v", errs[0], errs[1])
	}
	if got := srv.Ranges(); len(got) != 1 {
		t.Errorf("downloads started at %v, want one download", got)
	}
	if err := a.Verify(context.Background(), "hf.co/o/r:Q4_K_M"); err != nil {
		t.Error(err)
	}
}

func TestPullWithToken(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	srv.Add("o/gated", "m-Q4_K_M.gguf", synthGGUF(t, "m", 8))
	srv.SetToken("tok")
	s := newStore(t, srv)
	if _, err := s.Pull(context.Background(), "hf.co/o/gated", PullOptions{}); err == nil || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Errorf("gated pull without a token: %v", err)
	}
	s.Hub.Token = "tok"
	if _, err := s.Pull(context.Background(), "hf.co/o/gated", PullOptions{}); err != nil {
		t.Errorf("with the token: %v", err)
	}
}

func TestPullResumesStalledConnection(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	data := synthGGUF(t, "m", 5000)
	srv.Add("o/r", "m-Q4_K_M.gguf", data)
	srv.SetStall(3000, nil) // the first connection goes quiet after 3000 bytes
	s := newStore(t, srv)
	s.StallTimeout = 50 * time.Millisecond
	if got := pullVerified(t, s, srv, "hf.co/o/r"); !slices.Equal(got, []int64{0, 3000}) {
		t.Errorf("downloads started at %v, want [0 3000]", got)
	}
}

func TestPullRefusesNonGGUF(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	srv.Add("o/r", "m-Q4_K_M.gguf", []byte("<html>not a model</html>"))
	for i := 1; i <= 2; i++ {
		// Two parts that both claim to be the first.
		p := fmt.Sprintf("s-Q8_0-%05d-of-00002.gguf", i)
		srv.Add("o/split", p, synthGGUF(t, p, 8, "split.no", uint16(0), "split.count", uint16(2)))
	}
	s := newStore(t, srv)
	if _, err := s.Pull(context.Background(), "hf.co/o/r", PullOptions{}); err == nil || !strings.Contains(err.Error(), "not a usable GGUF") {
		t.Errorf("pull of a non-GGUF: %v", err)
	}
	if _, err := s.Pull(context.Background(), "hf.co/o/split", PullOptions{}); err == nil || !strings.Contains(err.Error(), "part 1 of 2, given as part 2") {
		t.Errorf("pull of mismatched parts: %v", err)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("models named: %+v", list)
	}
}

// TestPullURLCompletePartial: a pull killed after its last byte but
// before the blob was stored finishes without downloading anything.
func TestPullURLCompletePartial(t *testing.T) {
	srv := hubtest.New()
	defer srv.Close()
	data := synthGGUF(t, "u", 32)
	srv.Add("o/r", "u.gguf", data)
	s := newStore(t, srv)
	u := s.Hub.FileURL("o/r", "main", "u.gguf")
	writeFile(t, s.Dir()+"/tmp", downloadKey(spec{url: u})+".partial", data)
	if _, err := s.Pull(context.Background(), u, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Ranges(); !slices.Equal(got, []int64{int64(len(data))}) {
		t.Errorf("downloads started at %v", got)
	}
	if m, err := s.Resolve(context.Background(), "u"); err != nil || m.Manifest.Layers[0].Digest != digestOf(data) {
		t.Errorf("%+v, %v", m, err)
	}
}
