// Package hubtest is a stand-in for the Hugging Face Hub in tests: an
// httptest server that lists repositories' trees (paginated with Link
// headers, LFS files with their sha256) and serves files from resolve
// URLs through a redirect to a "CDN" path, with Range requests, as the
// public hub does. Hooks make it misbehave: serve wrong bytes, or stall
// part way through a file so that a client can be killed mid-download.
package hubtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is the stand-in hub. Change its fields with the Set methods (a
// client in another process gives the race detector no happens-before
// edge, whenever the change is made).
type Server struct {
	*httptest.Server

	mu    sync.Mutex
	repos map[string]map[string][]byte // repo -> path -> contents
	// PageSize is how many entries a tree page holds (default 2, so
	// that listings of a few files already paginate).
	PageSize int
	// Token, when set, is required as a bearer token on API and resolve
	// requests.
	Token string
	// Corrupt lists paths whose served bytes differ from the listed
	// sha256 (one byte flipped).
	Corrupt map[string]bool
	// StallAfter, when positive, makes a download that starts at offset 0
	// send that many bytes, signal Stalled, and then hang until the client
	// goes away or, if Release is not nil, until Release is closed, when
	// it sends the rest.
	StallAfter int64
	Stalled    chan struct{}
	Release    chan struct{}

	cdnServer *httptest.Server
	ranges    []int64 // the start offset of every file request
	requests  int
}

// New starts a server; Close it when done.
func New() *Server {
	s := &Server{repos: map[string]map[string][]byte{}, PageSize: 2, Corrupt: map[string]bool{}, Stalled: make(chan struct{}, 16)}
	// The two patterns overlap (a repository could be named
	// "api/models"), which one ServeMux refuses: the API gets its own.
	api := http.NewServeMux()
	api.HandleFunc("GET /api/models/{owner}/{repo}/tree/{rev}", s.tree)
	files := http.NewServeMux()
	files.HandleFunc("GET /{owner}/{repo}/resolve/{rev}/{path...}", s.resolve)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			api.ServeHTTP(w, r)
		} else {
			files.ServeHTTP(w, r)
		}
	}))
	cdn := http.NewServeMux()
	cdn.HandleFunc("GET /cdn/{owner}/{repo}/{path...}", s.cdn)
	s.cdnServer = httptest.NewServer(cdn)
	return s
}

// Close shuts both servers down.
func (s *Server) Close() {
	s.Server.Close()
	s.cdnServer.Close()
}

// Add puts a file into repo ("OWNER/NAME"), stored in LFS.
func (s *Server) Add(repo, path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repos[repo] == nil {
		s.repos[repo] = map[string][]byte{}
	}
	s.repos[repo][path] = data
}

// SetStall sets StallAfter and Release.
func (s *Server) SetStall(after int64, release chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.StallAfter, s.Release = after, release
}

// SetToken sets Token.
func (s *Server) SetToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Token = tok
}

// SetCorrupt makes the server send wrong bytes for path.
func (s *Server) SetCorrupt(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Corrupt[path] = true
}

// Ranges returns the start offsets of the file downloads served so far.
func (s *Server) Ranges() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.ranges...)
}

// Requests counts every request served.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	s.requests++
	tok := s.Token
	s.mu.Unlock()
	if tok != "" && r.Header.Get("Authorization") != "Bearer "+tok {
		w.Header().Set("X-Error-Code", "GatedRepo")
		w.Header().Set("X-Error-Message", "Access to this model is restricted")
		http.Error(w, `{"error":"Access restricted"}`, http.StatusUnauthorized)
		return false
	}
	return true
}

type entry struct {
	Type string `json:"type"`
	OID  string `json:"oid"`
	Size int64  `json:"size"`
	Path string `json:"path"`
	LFS  *struct {
		OID         string `json:"oid"`
		Size        int64  `json:"size"`
		PointerSize int    `json:"pointerSize"`
	} `json:"lfs,omitempty"`
}

func (s *Server) tree(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	repo := r.PathValue("owner") + "/" + r.PathValue("repo")
	s.mu.Lock()
	files, ok := s.repos[repo]
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	pageSize := s.PageSize
	s.mu.Unlock()
	if !ok || r.PathValue("rev") != "main" {
		w.Header().Set("X-Error-Code", "RepoNotFound")
		http.Error(w, `{"error":"Repository not found"}`, http.StatusNotFound)
		return
	}
	sort.Strings(paths)
	// A directory entry for every directory, as the hub lists with
	// recursive=true.
	var entries []entry
	dirs := map[string]bool{}
	for _, p := range paths {
		if i := strings.LastIndex(p, "/"); i > 0 && !dirs[p[:i]] {
			dirs[p[:i]] = true
			entries = append(entries, entry{Type: "directory", OID: "0", Path: p[:i]})
		}
		data := files[p]
		sum := sha256.Sum256(data)
		e := entry{Type: "file", OID: fmt.Sprintf("%040x", len(data)), Size: int64(len(data)), Path: p}
		e.LFS = &struct {
			OID         string `json:"oid"`
			Size        int64  `json:"size"`
			PointerSize int    `json:"pointerSize"`
		}{hex.EncodeToString(sum[:]), int64(len(data)), 134}
		entries = append(entries, e)
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	if pageSize <= 0 {
		pageSize = len(entries) + 1
	}
	end := min(start+pageSize, len(entries))
	if start > end {
		start = end
	}
	if end < len(entries) {
		q := r.URL.Query()
		q.Set("cursor", strconv.Itoa(end))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, s.URL, r.URL.Path, q.Encode()))
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(entries[start:end])
}

func (s *Server) file(repo, path string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok := s.repos[repo][path]
	return data, ok
}

// resolve answers as the hub does for an LFS file: a redirect to the CDN,
// with the sha256 in X-Linked-Etag.
func (s *Server) resolve(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	repo := r.PathValue("owner") + "/" + r.PathValue("repo")
	data, ok := s.file(repo, r.PathValue("path"))
	if !ok || r.PathValue("rev") != "main" {
		w.Header().Set("X-Error-Code", "EntryNotFound")
		http.Error(w, `{"error":"Entry not found"}`, http.StatusNotFound)
		return
	}
	sum := sha256.Sum256(data)
	w.Header().Set("X-Linked-Etag", `"`+hex.EncodeToString(sum[:])+`"`)
	w.Header().Set("X-Linked-Size", strconv.Itoa(len(data)))
	// The CDN is another server, named localhost: another host name for
	// Go's client, which therefore drops the Authorization header on the
	// way, as it does on the way to the real CDN.
	cdn := strings.Replace(s.cdnServer.URL, "127.0.0.1", "localhost", 1)
	http.Redirect(w, r, cdn+"/cdn/"+repo+"/"+r.PathValue("path"), http.StatusFound)
}

func (s *Server) cdn(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	if r.Header.Get("Authorization") != "" {
		// The public CDN is another host: a token must not reach it.
		http.Error(w, "token sent to the CDN", http.StatusBadRequest)
		return
	}
	repo := r.PathValue("owner") + "/" + r.PathValue("repo")
	path := r.PathValue("path")
	data, ok := s.file(repo, path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	if s.Corrupt[path] {
		data = bytes.Clone(data)
		data[len(data)/2] ^= 0xff
	}
	var start int64
	if rg := r.Header.Get("Range"); rg != "" {
		fmt.Sscanf(rg, "bytes=%d-", &start)
	}
	s.ranges = append(s.ranges, start)
	stall, release := s.StallAfter, s.Release
	s.mu.Unlock()
	if stall > 0 && start == 0 && r.Header.Get("Range") == "" && stall < int64(len(data)) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:stall])
		w.(http.Flusher).Flush()
		s.Stalled <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
			w.Write(data[stall:])
		}
		return
	}
	http.ServeContent(w, r, path, time.Time{}, bytes.NewReader(data))
}
