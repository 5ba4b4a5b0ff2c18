package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecodeRequests feeds arbitrary bodies through every request decoder
// and the option, message, tool, format and input parsers of both APIs:
// none may panic, and each either accepts or names what is wrong.
func FuzzDecodeRequests(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"options":{"num_predict":5,"temperature":0.7,"stop":["a"]}}`,
		`{"model":"m","prompt":"x","format":{"type":"object","properties":{"a":{"type":"string"}}},"keep_alive":"5m","think":"high"}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"array"}}}}`,
		`{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"ok"}],"tools":[{"type":"function","name":"f","parameters":{}}]}`,
		`{"model":"m","input":"hi","keep_alive":-1,"options":{"seed":-1,"repeat_last_n":0}}`,
		`{"model":"m","prompt":[1,2,3]}`,
		`{}`, `[]`, `null`, `{"model":1}`, `{"options":{"top_k":1e400}}`, "\xef\xbb\xbf{}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		}
		var g ollamaGenerateRequest
		if decode(req(), &g) == nil {
			parseOllamaOptions(g.Options)
			parseThink(g.Think)
		}
		var c ollamaChatRequest
		if decode(req(), &c) == nil {
			parseOllamaOptions(c.Options)
		}
		var oc openaiChatRequest
		if decode(req(), &oc) == nil {
			fromOpenAIMessages(oc.Messages)
			openaiTools(oc.Tools, oc.ToolChoice)
			openaiFormat(oc.ResponseFormat)
			parseStop(oc.Stop)
			openaiOptions(oc.Temperature, oc.TopP, oc.FrequencyPenalty, oc.PresencePenalty, oc.Seed, oc.MaxTokens, oc.Stop)
		}
		var rr responsesRequest
		if decode(req(), &rr) == nil {
			responsesInput(rr.Input, rr.Instructions)
			if oreq, err := responsesChatRequest(&rr, "remote"); err == nil {
				if _, err := json.Marshal(oreq); err != nil {
					t.Fatalf("translated request does not marshal: %v", err)
				}
			}
			if tools, err := responsesTools(rr.Tools); err == nil {
				if _, forced, err := openaiTools(tools, rr.ToolChoice); err == nil && forced != nil {
					if schema, err := forced.schema(); err == nil && !json.Valid(schema) {
						t.Fatalf("forced-tool schema is not JSON: %s", schema)
					}
				}
			}
		}
		var e struct {
			Input json.RawMessage `json:"input"`
		}
		if decode(req(), &e) == nil {
			embedInputs(e.Input, "input")
		}
	})
}
