package api

import (
	"encoding/json"
	"net/http"
	"unicode/utf8"
)

// llama-server's extras: /tokenize, /detokenize and /apply-template, with
// a "model" field added since this server has many models.

func (s *Server) llamaTokenize(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model        string `json:"model"`
		Content      string `json:"content"`
		AddSpecial   bool   `json:"add_special"`
		ParseSpecial *bool  `json:"parse_special"`
		WithPieces   bool   `json:"with_pieces"`
	}
	if err := decodeForModel(r, &req, &req.Model, nil); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	m, err := s.acquire(r.Context(), req.Model)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	defer m.Release(nil)
	tok := m.Tokenizer()
	special := req.ParseSpecial == nil || *req.ParseSpecial
	ids := tok.Encode(req.Content, req.AddSpecial, special)
	if !req.WithPieces {
		writeJSON(w, http.StatusOK, map[string]any{"tokens": nonNilIDs(ids)})
		return
	}
	type piece struct {
		ID    int32 `json:"id"`
		Piece any   `json:"piece"`
	}
	pieces := make([]piece, 0, len(ids))
	for _, id := range ids {
		p := tok.Piece(id)
		if utf8.Valid(p) {
			pieces = append(pieces, piece{id, string(p)})
		} else {
			pieces = append(pieces, piece{id, bytesOf(string(p))})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": pieces})
}

func (s *Server) llamaDetokenize(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model  string  `json:"model"`
		Tokens []int32 `json:"tokens"`
	}
	if err := decodeForModel(r, &req, &req.Model, nil); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	m, err := s.acquire(r.Context(), req.Model)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	defer m.Release(nil)
	tok := m.Tokenizer()
	for i, id := range req.Tokens {
		if id < 0 || int(id) >= tok.VocabSize() {
			writeError(w, http.StatusBadRequest, badRequest("tokens[%d]: %d is outside the vocabulary (%d tokens)", i, id, tok.VocabSize()).Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"content": tok.Decode(req.Tokens)})
}

// applyTemplate returns the exact text the model sees for a chat, with the
// generation prompt added.
func (s *Server) llamaApplyTemplate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model    string            `json:"model"`
		Messages []openaiMessage   `json:"messages"`
		Tools    []json.RawMessage `json:"tools"`
		Think    json.RawMessage   `json:"think"`
	}
	if err := decodeForModel(r, &req, &req.Model, nil); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	think, err := parseThink(req.Think)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	msgs, err := fromOpenAIMessages(req.Messages)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	m, err := s.acquire(r.Context(), req.Model)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	defer m.Release(nil)
	text, err := s.renderChat(m, msgs, req.Tools, think, "")
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"prompt": text})
}

func nonNilIDs(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}
