package initsys

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/raym33/ainative/internal/update"
)

// updateHandler serves GET /update (the slots, as `ainative update
// --status --json`) and POST /update (install the update bundle that
// is the request body, as `ainative update`). Installing changes what
// the machine boots, so it needs the status token in an Authorization:
// Bearer header from every peer, loopback and public pages included; a
// header, unlike the page's cookie, is not sent by a browser on another
// site's behalf.
type updateHandler struct {
	token  string
	system func() *update.System // a fresh view of the machine per request
	mu     sync.Mutex            // one install at a time
}

func (h *updateHandler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.system().Status()
	if err != nil {
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *updateHandler) install(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || h.token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(h.token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ainative update"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "installing an update needs the status token in an Authorization: Bearer header (" + TokenPath + " in the image)"})
		return
	}
	if !h.mu.TryLock() {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "an update is being installed already"})
		return
	}
	defer h.mu.Unlock()
	pub, _, err := update.LoadPublicKey(update.PublicKeyPaths)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	// The bundle is read twice (verified, then written): keep it on the
	// data partition when there is one, not in RAM.
	dir := os.TempDir()
	if isMountPoint(DataDir) {
		dir = DataDir
	}
	f, err := os.CreateTemp(dir, ".update-bundle-*")
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	defer os.Remove(f.Name())
	limit := int64(update.MaxSystemSize + 1<<20)
	n, err := io.Copy(f, http.MaxBytesReader(w, r.Body, limit))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = fmt.Errorf("bundle larger than %d MiB", limit>>20)
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "receiving the bundle: " + err.Error()})
		return
	}
	if n == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "empty request body: send the bundle (ainative image build --update-bundle) as the body"})
		return
	}
	open := func() (io.ReadCloser, error) { return os.Open(f.Name()) }
	res, err := h.system().Install(r.Context(), open, pub, nil)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "update refused: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, res)
}
