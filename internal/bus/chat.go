package bus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/raym33/ainative/client"
	busapi "github.com/raym33/ainative/client/bus"
)

// RuntimeChat returns a Config.Chat that forwards ai.chat to the runtime
// through the client package (non-streaming, the answer in one piece),
// naming the caller in client.OnBehalfOfHeader so that the runtime's
// scheduler counts the caller, not the bus, for fairness. The runtime
// believes the header only when the bus runs as root or as the runtime's
// own user (see internal/api's relay); otherwise it counts the bus's uid.
func RuntimeChat(rt *client.Client) func(context.Context, busapi.Identity, busapi.ChatParams) (busapi.ChatResult, error) {
	return func(ctx context.Context, caller busapi.Identity, p busapi.ChatParams) (busapi.ChatResult, error) {
		req := &client.ChatRequest{Model: p.Model, Stream: new(bool)}
		if p.MaxTokens > 0 || p.Temperature != nil {
			req.Options = &client.Options{Temperature: p.Temperature}
			if p.MaxTokens > 0 {
				req.Options.NumPredict = &p.MaxTokens
			}
		}
		for _, m := range p.Messages {
			req.Messages = append(req.Messages, client.Message{Role: m.Role, Content: m.Content})
		}
		ctx = client.OnBehalfOf(ctx, client.Caller{UID: caller.UID, GID: caller.GID, PID: caller.PID, Exe: caller.Exe})
		out := busapi.ChatResult{Message: busapi.ChatMessage{Role: "assistant"}}
		err := rt.Chat(ctx, req, func(r client.ChatResponse) error {
			out.Message.Content += r.Message.Content
			return nil
		})
		return out, err
	}
}

// backendsTTL is how long RuntimeBackends trusts the runtime's list of
// remote models: a backend added to the runtime's config is seen within it.
const backendsTTL = 10 * time.Second

// RuntimeBackends returns a Config.ModelBackend that learns which models
// the runtime serves from remote backends from its model list (/api/tags
// lists them with the format "remote:NAME"), refreshed every backendsTTL.
// When the runtime cannot be asked it fails, and ai.chat with it: the bus
// never guesses that a model is local.
func RuntimeBackends(rt *client.Client) func(context.Context, string) (string, error) {
	var mu sync.Mutex
	var remote map[string]string
	var fetched time.Time
	return func(ctx context.Context, model string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if remote == nil || time.Since(fetched) > backendsTTL {
			models, err := rt.List(ctx)
			if err != nil {
				return "", err
			}
			remote = map[string]string{}
			for _, m := range models {
				if b, ok := strings.CutPrefix(m.Details.Format, "remote:"); ok {
					remote[m.Name] = b
				}
			}
			fetched = time.Now()
		}
		if b, ok := remote[model]; ok {
			return b, nil
		}
		return remote[strings.TrimSuffix(model, ":latest")], nil
	}
}

// RuntimeEmbed returns a Config.Embed that embeds with model through the
// runtime's /api/embed, refusing a model that backendOf (RuntimeBackends)
// says is remote: context, secret items included, never leaves the
// machine to be embedded. A 400 from the runtime (a text it cannot
// embed) is reported as ErrUnembeddable.
func RuntimeEmbed(rt *client.Client, model string, backendOf func(context.Context, string) (string, error)) EmbedFunc {
	return func(ctx context.Context, texts []string) ([][]float32, error) {
		b, err := backendOf(ctx, model)
		if err != nil {
			return nil, err
		}
		if b != "" {
			return nil, fmt.Errorf("embedding model %q is served by the remote backend %q; the bus embeds context only with a local model", model, b)
		}
		vecs, err := rt.Embed(ctx, model, texts)
		var se *client.StatusError
		if errors.As(err, &se) && se.StatusCode == http.StatusBadRequest {
			return nil, fmt.Errorf("%w: %v", ErrUnembeddable, err)
		}
		return vecs, err
	}
}
