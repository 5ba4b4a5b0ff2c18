package bus

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	busapi "github.com/raym33/ainative/client/bus"
)

// FuzzHandle feeds arbitrary JSON-RPC lines to the bus's decoding and
// dispatch of its own methods: every input gets a result or a JSON-RPC
// error, never a panic.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"ainative/context.publish","params":{"kind":"cwd","text":"/home","sensitivity":"public"}}`,
		`{"jsonrpc":"2.0","id":2,"method":"ainative/context.query","params":{"text":"home \"OR NEAR(","limit":-5}}`,
		`{"jsonrpc":"2.0","id":3,"method":"ainative/tool.register","params":{"tools":[{"name":"x","effect":"read","inputSchema":{"type":"object"}}]}}`,
		`{"jsonrpc":"2.0","id":4,"method":"ainative/tool.register","params":{"tools":[{"name":"y","effect":"read","inputSchema":{"$ref":"http://example.com/s"}}]}}`,
		`{"jsonrpc":"2.0","id":5,"method":"ainative/hello","params":{"role":"gateway"}}`,
		`{"jsonrpc":"2.0","id":6,"method":"ainative/audit.query","params":{"uid":0}}`,
		`{"jsonrpc":"2.0","id":7,"method":"ainative/consent.register"}`,
		`{"jsonrpc":"2.0","id":8,"method":"ainative/nope","params":[1,2]}`,
		`{"jsonrpc":"2.0","id":9,"method":"ainative/context.publish","params":"x"}`,
	} {
		f.Add([]byte(seed))
	}
	s, err := New(Config{Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	c := &conn{s: s, p: &peer{Identity: busapi.Identity{UID: uint32(os.Getuid()), PID: int32(os.Getpid())}, pidfd: -1}}
	f.Fuzz(func(t *testing.T, line []byte) {
		msg, err := jsonrpc.DecodeMessage(line)
		if err != nil {
			return
		}
		req, ok := msg.(*jsonrpc.Request)
		if !ok {
			return
		}
		res, err := c.handle(context.Background(), req.Method, req.Params)
		if err != nil {
			var we *jsonrpc.Error
			if !errors.As(err, &we) && err.Error() == "" {
				t.Fatalf("%s: empty error", req.Method)
			}
			return
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("%s: result does not encode: %v", req.Method, err)
		}
	})
}
