package bus

import (
	"context"

	"github.com/raym33/ainative/client"
	busapi "github.com/raym33/ainative/client/bus"
)

// RuntimeChat returns a Config.Chat that forwards ai.chat to the runtime
// through the client package (non-streaming, the answer in one piece).
// The runtime's API has no field for the original caller yet, so its
// scheduler sees the bus as the client.
func RuntimeChat(rt *client.Client) func(context.Context, busapi.Identity, busapi.ChatParams) (busapi.ChatResult, error) {
	return func(ctx context.Context, _ busapi.Identity, p busapi.ChatParams) (busapi.ChatResult, error) {
		req := &client.ChatRequest{Model: p.Model, Stream: new(bool)}
		if p.MaxTokens > 0 {
			req.Options = &client.Options{NumPredict: &p.MaxTokens}
		}
		for _, m := range p.Messages {
			req.Messages = append(req.Messages, client.Message{Role: m.Role, Content: m.Content})
		}
		out := busapi.ChatResult{Message: busapi.ChatMessage{Role: "assistant"}}
		err := rt.Chat(ctx, req, func(r client.ChatResponse) error {
			out.Message.Content += r.Message.Content
			return nil
		})
		return out, err
	}
}
