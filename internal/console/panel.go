package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	busapi "github.com/raym33/ainative/client/bus"
)

// A Panel shows one user's part of the AI bus in the console: their
// context items, their audit log, and the consent requests waiting for
// them, which the person answers in the page. HTTP carries no peer
// credentials, so the panel is that user's own: it holds a bus
// connection opened by a process of the user (the kernel told the bus
// who that is), and the page reaches it only through a session opened
// once with a one-time token that process hands to the person (written
// to a file only the user can read, see cmd/ainative console).
type Panel struct {
	c *busapi.Client

	mu       sync.Mutex
	token    string // one-time; "" once redeemed
	sessions map[string]bool
	pending  map[string]*pendingAsk
	order    []string
}

type pendingAsk struct {
	req    busapi.ConsentRequest
	answer chan bool
}

// maxPending bounds the consent requests waiting in the page.
const maxPending = 32

const sessionCookie = "ainative_session"

// NewPanel makes c's connection its user's consent agent (answered in
// the page) and returns the panel with its one-time token.
func NewPanel(ctx context.Context, c *busapi.Client) (*Panel, string, error) {
	p := &Panel{c: c, token: randomID(), sessions: map[string]bool{}, pending: map[string]*pendingAsk{}}
	if err := c.ServeConsent(ctx, p.consent); err != nil {
		return nil, "", fmt.Errorf("console: answering consent: %w", err)
	}
	return p, p.token, nil
}

func randomID() string {
	var b [24]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// consent waits for the page's answer; a request the bus gave up on
// leaves the page.
func (p *Panel) consent(ctx context.Context, r busapi.ConsentRequest) (bool, error) {
	a := &pendingAsk{req: r, answer: make(chan bool, 1)}
	p.mu.Lock()
	if len(p.pending) >= maxPending {
		p.mu.Unlock()
		return false, errors.New("too many consent requests waiting in the console")
	}
	p.pending[r.ID] = a
	p.order = append(p.order, r.ID)
	p.mu.Unlock()
	defer p.forget(r.ID)
	select {
	case ok := <-a.answer:
		return ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (p *Panel) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pending, id)
	for i, o := range p.order {
		if o == id {
			p.order = append(p.order[:i:i], p.order[i+1:]...)
			break
		}
	}
}

// redeem opens a session with the one-time token, which then stops
// working; it returns the session id.
func (p *Panel) redeem(token string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token == "" || !equal(token, p.token) {
		return "", false
	}
	p.token = ""
	id := randomID()
	p.sessions[id] = true
	return id, true
}

func (p *Panel) hasSession(r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions[c.Value]
}

// maxAnswerBody bounds a consent answer's body.
const maxAnswerBody = 1 << 10

// serve answers the panel's API under Prefix+"bus/":
//
//	GET  bus/context        the user's context items (newest first)
//	GET  bus/audit          the user's audit records (oldest first)
//	GET  bus/consent        the consent requests waiting, oldest first
//	POST bus/consent/ID     {"approve": true|false}
func (p *Panel) serve(w http.ResponseWriter, r *http.Request) {
	if !p.hasSession(r) {
		http.Error(w, "the bus panel needs a session: open the URL that 'ainative console' printed", http.StatusUnauthorized)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, Prefix+"bus/")
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	switch {
	case r.Method == http.MethodGet && rest == "context":
		items, err := p.c.Query(ctx, busapi.QueryParams{Limit: 100})
		reply(w, map[string]any{"items": nonNil(items)}, err)
	case r.Method == http.MethodGet && rest == "audit":
		limit := 200
		if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n < 10000 {
			limit = n
		}
		recs, err := p.c.Audit(ctx, busapi.AuditQuery{Limit: limit})
		reply(w, map[string]any{"records": nonNil(recs)}, err)
	case r.Method == http.MethodGet && rest == "consent":
		p.mu.Lock()
		reqs := make([]busapi.ConsentRequest, 0, len(p.order))
		for _, id := range p.order {
			reqs = append(reqs, p.pending[id].req)
		}
		p.mu.Unlock()
		reply(w, map[string]any{"requests": reqs}, nil)
	case r.Method == http.MethodPost && strings.HasPrefix(rest, "consent/"):
		// A form on another site cannot send JSON to here without a
		// CORS preflight, which this server never grants; with the
		// SameSite cookie that keeps answers to this page.
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			http.Error(w, "a consent answer is JSON", http.StatusUnsupportedMediaType)
			return
		}
		var ans busapi.ConsentAnswer
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAnswerBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ans); err != nil {
			http.Error(w, "consent answer: "+err.Error(), http.StatusBadRequest)
			return
		}
		id := strings.TrimPrefix(rest, "consent/")
		p.mu.Lock()
		a := p.pending[id]
		p.mu.Unlock()
		if a == nil {
			http.Error(w, "no consent request "+strconv.Quote(id)+" is waiting (answered, or the bus gave up on it)", http.StatusNotFound)
			return
		}
		p.forget(id)
		a.answer <- ans.Approve
		reply(w, map[string]any{"id": id, "approve": ans.Approve}, nil)
	default:
		http.Error(w, "no such bus panel request: "+r.Method+" "+rest, http.StatusNotFound)
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		http.Error(w, "bus: "+err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}
