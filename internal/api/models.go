package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/raym33/ainative/internal/chat"
	"github.com/raym33/ainative/internal/runtime"
	"github.com/raym33/ainative/internal/store"
)

// Models is the model store as the API uses it.
type Models = *store.Store

// StoreSource resolves model names for the runtime through a store.
type StoreSource struct{ Store *store.Store }

// Resolve implements runtime.Source.
func (s StoreSource) Resolve(ctx context.Context, name string) (runtime.Resolved, error) {
	m, err := s.Store.Resolve(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return runtime.Resolved{}, fmt.Errorf("%w: %v", runtime.ErrNotFound, err)
	}
	if err != nil {
		return runtime.Resolved{}, err
	}
	if len(m.Paths) != 1 {
		return runtime.Resolved{}, fmt.Errorf("model %s is split into %d files, which the engine cannot load yet (merge them with llama.cpp's gguf-split --merge and import the result)", m.Name, len(m.Paths))
	}
	fi, err := os.Stat(m.Paths[0])
	if err != nil {
		return runtime.Resolved{}, err
	}
	return runtime.Resolved{Name: m.Name.String(), Path: m.Paths[0], Digest: m.ID, Size: fi.Size()}, nil
}

// adminAllowed says whether the caller may change the store (pull,
// delete, copy). On the Unix socket the kernel tells who calls: root, the
// daemon's own user and members of the "ainative" group may. Over TCP
// nobody is known, so Config.AdminOverTCP decides.
func (s *Server) adminAllowed(r *http.Request) error {
	cred := PeerCredFrom(r.Context())
	if cred == nil {
		if s.cfg.AdminOverTCP {
			return nil
		}
		return &requestError{http.StatusForbidden, "changing the model store needs the Unix socket (as root or a member of group ainative); this daemon does not allow it over TCP"}
	}
	if cred.UID == 0 || int(cred.UID) == os.Getuid() {
		return nil
	}
	if g, err := user.LookupGroup("ainative"); err == nil {
		if gid, err := strconv.Atoi(g.Gid); err == nil && (int(cred.GID) == gid || inGroups(cred.PID, gid)) {
			return nil
		}
	}
	return &requestError{http.StatusForbidden, fmt.Sprintf("uid %d may not change the model store (root and members of group ainative may)", cred.UID)}
}

// inGroups reads a process's supplementary groups from /proc.
func inGroups(pid int32, gid int) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Groups:"); ok {
			for _, g := range strings.Fields(rest) {
				if g == strconv.Itoa(gid) {
					return true
				}
			}
		}
	}
	return false
}

func (s *Server) needStore(w http.ResponseWriter) bool {
	if s.cfg.Models == nil {
		writeError(w, http.StatusNotImplemented, "this server has no model store")
		return false
	}
	return true
}

// needAdmin answers and returns false unless the server has a store and
// the caller may change it.
func (s *Server) needAdmin(w http.ResponseWriter, r *http.Request) bool {
	if !s.needStore(w) {
		return false
	}
	if err := s.adminAllowed(r); err != nil {
		writeError(w, statusOf(err), err.Error())
		return false
	}
	return true
}

type ollamaListModel struct {
	Name       string             `json:"name"`
	Model      string             `json:"model"`
	ModifiedAt time.Time          `json:"modified_at"`
	Size       int64              `json:"size"`
	Digest     string             `json:"digest"`
	Details    ollamaModelDetails `json:"details"`
}

// details reads a model's family, size and quantization.
func details(info *store.Info) ollamaModelDetails {
	d := ollamaModelDetails{Format: "gguf", Family: info.Architecture, QuantizationLevel: info.FileType,
		ParameterSize: info.SizeLabel}
	if info.Architecture != "" {
		d.Families = []string{info.Architecture}
	}
	if d.ParameterSize == "" && info.Parameters > 0 {
		d.ParameterSize = paramSize(info.Parameters)
	}
	return d
}

func paramSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	}
	return fmt.Sprintf("%.0fK", float64(n)/1e3)
}

func (s *Server) ollamaTags(w http.ResponseWriter, r *http.Request) {
	if !s.needStore(w) {
		return
	}
	entries, err := s.cfg.Models.List()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	models := []ollamaListModel{}
	for _, e := range entries {
		m := ollamaListModel{Name: e.Name, Model: e.Name, ModifiedAt: e.Modified, Size: e.Size, Digest: strings.TrimPrefix(e.ID, "sha256:")}
		if info, err := s.cfg.Models.Show(r.Context(), e.Name); err == nil {
			m.Details = details(info)
		}
		models = append(models, m)
	}
	models = append(models, DirSource{s.cfg.ModelsDir}.list()...)
	for _, b := range s.backends() {
		for local := range b.Models {
			models = append(models, ollamaListModel{Name: local, Model: local, Details: ollamaModelDetails{Format: "remote:" + b.Name}})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": models})
}

func (s *Server) ollamaShow(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model   string `json:"model"`
		Name    string `json:"name"` // older clients
		Verbose bool   `json:"verbose"`
	}
	if err := decodeForModel(r, &req, &req.Model, &req.Name); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	if !s.needStore(w) {
		return
	}
	info, err := s.cfg.Models.Show(r.Context(), req.Model)
	if err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	caps := []string{"completion"}
	if info.Architecture == "bert" || info.Architecture == "nomic-bert" {
		caps = []string{"embedding"}
	} else if info.ChatTemplate != "" {
		if c, err := chat.TemplateCapabilities(info.ChatTemplate); err == nil {
			if c.Tools {
				caps = append(caps, "tools")
			}
			if c.Thinking {
				caps = append(caps, "thinking")
			}
		}
	}
	var params strings.Builder
	for k, v := range info.Sampling {
		fmt.Fprintf(&params, "%-30s %v\n", k, v)
	}
	modelInfo := map[string]any{
		"general.architecture":    info.Architecture,
		"general.parameter_count": info.Parameters,
		"general.file_type":       info.FileType,
	}
	if info.Architecture != "" {
		modelInfo[info.Architecture+".context_length"] = info.ContextLength
		modelInfo[info.Architecture+".embedding_length"] = info.EmbeddingLength
		modelInfo[info.Architecture+".block_count"] = info.BlockCount
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"license": info.License, "template": info.ChatTemplate, "parameters": params.String(),
		"modelfile": fmt.Sprintf("# ainative model %s\nFROM %s\n", info.Name, info.Source),
		"details":   details(info), "model_info": modelInfo, "capabilities": caps, "modified_at": info.Created,
	})
}

func storeStatus(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, context.Canceled):
		return 499
	}
	var re *requestError
	if errors.As(err, &re) {
		return re.status
	}
	msg := err.Error()
	if strings.Contains(msg, "invalid") || strings.Contains(msg, "name") {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (s *Server) ollamaPull(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model  string `json:"model"`
		Name   string `json:"name"`
		Stream *bool  `json:"stream"`
	}
	if err := decodeForModel(r, &req, &req.Model, &req.Name); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	if !s.needAdmin(w, r) {
		return
	}
	if !streaming(req.Stream) {
		if _, err := s.cfg.Models.Pull(r.Context(), req.Model, store.PullOptions{}); err != nil {
			writeError(w, storeStatus(err), err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "success"})
		return
	}
	sw := s.newStream(w, "application/x-ndjson")
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	_, err := s.cfg.Models.Pull(ctx, req.Model, store.PullOptions{Progress: func(p store.Progress) {
		if err := sw.ndjson(p); err != nil {
			cancel()
		}
	}})
	if err != nil {
		sw.ndjson(map[string]string{"error": err.Error()})
		return
	}
	sw.ndjson(map[string]string{"status": "success"})
}

func (s *Server) ollamaDelete(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model string `json:"model"`
		Name  string `json:"name"`
	}
	if err := decodeForModel(r, &req, &req.Model, &req.Name); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	if !s.needAdmin(w, r) {
		return
	}
	s.rt.Unload(req.Model)
	if _, err := s.cfg.Models.Remove(r.Context(), req.Model); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) ollamaCopy(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Source      string `json:"source"`
		Destination string `json:"destination"`
	}
	if err := decode(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Source == "" || req.Destination == "" {
		writeError(w, http.StatusBadRequest, "source and destination are required")
		return
	}
	if !s.needAdmin(w, r) {
		return
	}
	if err := s.cfg.Models.Copy(r.Context(), req.Source, req.Destination); err != nil {
		writeError(w, storeStatus(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
}

type openaiModelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) openaiModels(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Models == nil {
		openaiError(w, http.StatusNotImplemented, "this server has no model store")
		return
	}
	entries, err := s.cfg.Models.List()
	if err != nil {
		openaiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	data := []openaiModelObject{}
	for _, e := range entries {
		data = append(data, openaiModelObject{ID: e.Name, Object: "model", Created: e.Modified.Unix(), OwnedBy: "library"})
	}
	for _, b := range s.backends() {
		for local := range b.Models {
			data = append(data, openaiModelObject{ID: local, Object: "model", OwnedBy: b.Name})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (s *Server) openaiModel(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("model")
	if s.cfg.Models == nil {
		openaiError(w, http.StatusNotImplemented, "this server has no model store")
		return
	}
	entries, err := s.cfg.Models.List()
	if err != nil {
		openaiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	for _, e := range entries {
		if e.Name == name {
			writeJSON(w, http.StatusOK, openaiModelObject{ID: e.Name, Object: "model", Created: e.Modified.Unix(), OwnedBy: "library"})
			return
		}
	}
	openaiError(w, http.StatusNotFound, fmt.Sprintf("model %q not found", name))
}

// DirSource serves the GGUF files of a directory by name: DIR/NAME.gguf
// is model NAME (or NAME:latest). The image's baked-in models are served
// this way, without copying them into a store.
type DirSource struct{ Dir string }

// Resolve implements runtime.Source.
func (d DirSource) Resolve(_ context.Context, name string) (runtime.Resolved, error) {
	base := strings.TrimSuffix(name, ":latest")
	if d.Dir == "" || base == "" || strings.ContainsAny(base, `/\`) || strings.HasPrefix(base, ".") {
		return runtime.Resolved{}, fmt.Errorf("%w: %s", runtime.ErrNotFound, name)
	}
	path := filepath.Join(d.Dir, base+".gguf")
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return runtime.Resolved{}, fmt.Errorf("%w: %s", runtime.ErrNotFound, name)
	}
	id := fmt.Sprintf("file:%s:%d:%d", path, fi.Size(), fi.ModTime().UnixNano())
	return runtime.Resolved{Name: base, Path: path, Digest: id, Size: fi.Size()}, nil
}

// list returns the directory's models.
func (d DirSource) list() []ollamaListModel {
	if d.Dir == "" {
		return nil
	}
	entries, err := os.ReadDir(d.Dir)
	if err != nil {
		return nil
	}
	var out []ollamaListModel
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".gguf")
		fi, err := e.Info()
		if !ok || err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, ollamaListModel{Name: name, Model: name, ModifiedAt: fi.ModTime(), Size: fi.Size(),
			Details: ollamaModelDetails{Format: "gguf"}})
	}
	return out
}

// Sources resolves a name through each source in turn.
type Sources []runtime.Source

// Resolve implements runtime.Source.
func (ss Sources) Resolve(ctx context.Context, name string) (runtime.Resolved, error) {
	var first error
	for _, s := range ss {
		r, err := s.Resolve(ctx, name)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, runtime.ErrNotFound) {
			return r, err
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = fmt.Errorf("%w: %s", runtime.ErrNotFound, name)
	}
	return runtime.Resolved{}, first
}

func (s *Server) backends() []Backend {
	if s.cfg.Backends == nil {
		return nil
	}
	return s.cfg.Backends.Backends
}
