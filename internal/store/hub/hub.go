// Package hub is a small client of the Hugging Face Hub's HTTP API: the two
// requests a model pull needs, listing a repository's files and
// downloading one, made the way the huggingface_hub Python library makes
// them, so that anything that serves that library (the public hub, a
// mirror named by HF_ENDPOINT, the stand-in of package hubtest) serves us.
//
// Listing is GET {endpoint}/api/models/{repo}/tree/{revision}, with
// recursive=true, following the Link header's rel="next" pages; files
// stored in Git LFS carry lfs.oid, their sha256, and lfs.size. A file is
// fetched from {endpoint}/{repo}/resolve/{revision}/{path}, following
// redirects (to a CDN on the public hub), from a byte offset when resuming.
// HF_TOKEN, when set, is sent as "Authorization: Bearer"; Go's HTTP client
// drops that header when a redirect leaves the endpoint's host, as
// huggingface_hub does.
package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// DefaultEndpoint is the public hub, used when HF_ENDPOINT is unset.
const DefaultEndpoint = "https://huggingface.co"

// maxListing bounds the bytes read from one page of a tree listing: a page
// of a thousand entries is about 300 KiB.
const maxListing = 16 << 20

// maxPages bounds how many pages a listing follows, against a server
// whose Link headers loop.
const maxPages = 1000

// Client talks to one hub endpoint.
type Client struct {
	Endpoint  string // without a trailing slash
	Token     string // sent as a bearer token when not empty
	HTTP      *http.Client
	UserAgent string
}

// FromEnv returns a client for HF_ENDPOINT (default DefaultEndpoint)
// with the token huggingface_hub would use: HF_TOKEN, else the file
// HF_TOKEN_PATH, else $HF_HOME/token (HF_HOME defaults to
// ~/.cache/huggingface), where `hf auth login` stores it.
func FromEnv() *Client {
	ep := strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/")
	if ep == "" {
		ep = DefaultEndpoint
	}
	return &Client{Endpoint: ep, Token: tokenFromEnv(), HTTP: http.DefaultClient, UserAgent: "ainative"}
}

func tokenFromEnv() string {
	if tok, ok := os.LookupEnv("HF_TOKEN"); ok {
		return strings.TrimSpace(tok)
	}
	path := os.Getenv("HF_TOKEN_PATH")
	if path == "" {
		home := os.Getenv("HF_HOME")
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return ""
			}
			home = filepath.Join(h, ".cache", "huggingface")
		}
		path = filepath.Join(home, "token")
	}
	data, err := os.ReadFile(path)
	if err != nil || len(data) > 4096 {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// File is one entry of a repository's tree.
type File struct {
	Type string `json:"type"` // "file" or "directory"
	Path string `json:"path"`
	Size int64  `json:"size"`
	OID  string `json:"oid"` // the git blob id
	LFS  *LFS   `json:"lfs,omitempty"`
}

// LFS describes a file stored in Git LFS: large files, GGUFs among them.
type LFS struct {
	OID  string `json:"oid"` // sha256 of the contents, hex
	Size int64  `json:"size"`
}

// SHA256 returns the file's sha256 in hex when the hub knows it (LFS
// files), or "".
func (f File) SHA256() string {
	if f.LFS != nil && isSHA256(f.LFS.OID) {
		return f.LFS.OID
	}
	return ""
}

// ErrNotFound reports a repository, revision or file the hub does not have
// (or will not show without a token).
var ErrNotFound = errors.New("not found on the hub")

// Error is an unsuccessful answer of the hub.
type Error struct {
	URL    string
	Status int
	Code   string // X-Error-Code, e.g. RepoNotFound, GatedRepo
	Msg    string // X-Error-Message or the body's "error"
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: HTTP %d", e.URL, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	switch {
	case e.Code == "GatedRepo":
		s += " (a gated repository: accept its terms on the hub and set HF_TOKEN)"
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		s += " (set HF_TOKEN for a private or gated repository)"
	case e.Status == http.StatusNotFound && e.Code == "":
		s += " (check the name; a private repository also needs HF_TOKEN)"
	}
	return s
}

// Is makes errors.Is(err, ErrNotFound) true for 404 answers and for the
// 401 the hub gives for a repository that does not exist.
func (e *Error) Is(target error) bool {
	if target != ErrNotFound {
		return false
	}
	return e.Status == http.StatusNotFound || strings.HasSuffix(e.Code, "NotFound")
}

var repoPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$`)

// CheckRepo reports whether repo is OWNER/NAME as the hub spells repository
// ids, so that it cannot change the path of a request.
func CheckRepo(repo string) error {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || !repoPart.MatchString(owner) || !repoPart.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("hub: %q is not a repository id of the form OWNER/NAME", repo)
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, u string, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	return hc.Do(req)
}

func responseError(resp *http.Response) error {
	e := &Error{URL: resp.Request.URL.Redacted(), Status: resp.StatusCode,
		Code: resp.Header.Get("X-Error-Code"), Msg: resp.Header.Get("X-Error-Message")}
	if e.Msg == "" {
		var body struct {
			Error string `json:"error"`
		}
		if data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096)); json.Unmarshal(data, &body) == nil {
			e.Msg = body.Error
		}
	}
	return e
}

// ListFiles lists every file of repo at revision ("" means main),
// subdirectories included.
func (c *Client) ListFiles(ctx context.Context, repo, revision string) ([]File, error) {
	if err := CheckRepo(repo); err != nil {
		return nil, err
	}
	if revision == "" {
		revision = "main"
	}
	u := fmt.Sprintf("%s/api/models/%s/tree/%s?recursive=true&expand=false", c.Endpoint, repo, url.PathEscape(revision))
	var files []File
	for page := 0; u != ""; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("hub: listing %s: more than %d pages", repo, maxPages)
		}
		resp, err := c.do(ctx, http.MethodGet, u, http.Header{"Accept": {"application/json"}})
		if err != nil {
			return nil, fmt.Errorf("hub: listing %s: %w", repo, err)
		}
		entries, next, err := readPage(resp)
		if err != nil {
			return nil, fmt.Errorf("hub: listing %s: %w", repo, err)
		}
		for _, f := range entries {
			if f.Type == "file" {
				files = append(files, f)
			}
		}
		if u, err = resolveNext(resp.Request.URL, next); err != nil {
			return nil, fmt.Errorf("hub: listing %s: %w", repo, err)
		}
	}
	return files, nil
}

func readPage(resp *http.Response) ([]File, string, error) {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", responseError(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxListing+1))
	if err != nil {
		return nil, "", err
	}
	if len(data) > maxListing {
		return nil, "", fmt.Errorf("a page of the listing is over %d bytes", maxListing)
	}
	entries, err := DecodeTree(data)
	if err != nil {
		return nil, "", err
	}
	return entries, NextLink(resp.Header.Values("Link")), nil
}

// DecodeTree decodes one page of a tree listing, checking what a pull
// relies on: paths that stay inside the repository, sizes that are not
// negative, LFS oids that are sha256 digests.
func DecodeTree(data []byte) ([]File, error) {
	var entries []File
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("decoding the tree listing: %w", err)
	}
	for _, f := range entries {
		if f.Type != "file" {
			continue
		}
		if err := checkPath(f.Path); err != nil {
			return nil, err
		}
		if f.Size < 0 || (f.LFS != nil && f.LFS.Size < 0) {
			return nil, fmt.Errorf("file %q: negative size", f.Path)
		}
		if f.LFS != nil && !isSHA256(f.LFS.OID) {
			return nil, fmt.Errorf("file %q: lfs.oid %q is not a sha256 digest", f.Path, f.LFS.OID)
		}
	}
	return entries, nil
}

func checkPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
		return fmt.Errorf("file path %q is not a relative path", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("file path %q has an empty, . or .. segment", p)
		}
	}
	return nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// NextLink returns the target of the rel="next" link among Link header
// values, or "": the hub paginates listings that way (RFC 8288).
func NextLink(values []string) string {
	for _, v := range values {
		for _, link := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(link), ";")
			target = strings.TrimSpace(target)
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(strings.TrimSpace(k), "rel") && strings.Trim(strings.TrimSpace(val), `"`) == "next" {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

func resolveNext(base *url.URL, next string) (string, error) {
	if next == "" {
		return "", nil
	}
	u, err := base.Parse(next)
	if err != nil {
		return "", fmt.Errorf("the next-page link %q: %w", next, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("the next-page link %q is not http(s)", next)
	}
	return u.String(), nil
}

// FileURL is where the hub serves path of repo at revision.
func (c *Client) FileURL(repo, revision, path string) string {
	if revision == "" {
		revision = "main"
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return fmt.Sprintf("%s/%s/resolve/%s/%s", c.Endpoint, repo, url.PathEscape(revision), strings.Join(segs, "/"))
}

// Download is an open download of a file.
type Download struct {
	Body io.ReadCloser
	// Offset is where Body starts in the file: the offset asked for when
	// the server honoured the range, 0 when it sent the whole file.
	Offset int64
	// Size is the whole file's size, or -1 when the server did not say.
	Size int64
	// LinkedETag is the X-Linked-Etag header without quotes: the sha256 of
	// an LFS file on the hub.
	LinkedETag string
}

// Get starts downloading u (a FileURL or any http(s) URL) from byte
// offset. The token is sent only when u is on the client's endpoint.
func (c *Client) Get(ctx context.Context, u string, offset int64) (*Download, error) {
	hdr := http.Header{"Accept-Encoding": {"identity"}}
	if offset > 0 {
		hdr.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	cc := c
	if !strings.HasPrefix(u, c.Endpoint+"/") {
		cp := *c
		cp.Token = ""
		cc = &cp
	}
	resp, err := cc.do(ctx, http.MethodGet, u, hdr)
	if err != nil {
		return nil, err
	}
	d := &Download{Body: resp.Body, Size: -1, LinkedETag: linkedETag(resp)}
	switch resp.StatusCode {
	case http.StatusOK:
		d.Size = resp.ContentLength
	case http.StatusPartialContent:
		start, size, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != offset {
			resp.Body.Close()
			return nil, fmt.Errorf("%s: Content-Range %q does not answer a request from byte %d", resp.Request.URL.Redacted(), resp.Header.Get("Content-Range"), offset)
		}
		d.Offset, d.Size = start, size
	case http.StatusRequestedRangeNotSatisfiable:
		// Asked for the bytes after the end: the file was complete.
		var size int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes */%d", &size); err == nil && size == offset && offset > 0 {
			resp.Body.Close()
			d.Body, d.Offset, d.Size = http.NoBody, offset, size
			return d, nil
		}
		fallthrough
	default:
		err := responseError(resp)
		resp.Body.Close()
		return nil, err
	}
	return d, nil
}

// linkedETag finds X-Linked-Etag on the response or on the redirects that
// led to it: the hub sends it with the redirect to the CDN.
func linkedETag(resp *http.Response) string {
	for r := resp; r != nil; {
		if v := r.Header.Get("X-Linked-Etag"); v != "" {
			return strings.Trim(strings.TrimPrefix(v, "W/"), `"`)
		}
		if r.Request == nil {
			break
		}
		r = r.Request.Response
	}
	return ""
}

// parseContentRange parses "bytes START-END/SIZE" (SIZE may be "*").
func parseContentRange(s string) (start, size int64, err error) {
	var end int64
	var total string
	if _, err = fmt.Sscanf(s, "bytes %d-%d/%s", &start, &end, &total); err != nil {
		return 0, 0, err
	}
	if start < 0 || end < start {
		return 0, 0, fmt.Errorf("bad range")
	}
	size = -1
	if total != "*" {
		if _, err = fmt.Sscanf(total, "%d", &size); err != nil || size <= end {
			return 0, 0, fmt.Errorf("bad size")
		}
	}
	return start, size, nil
}
