package ask

import (
	"context"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestRunCallValidates: calls to tools not offered, arguments that are
// not JSON or break the schema never reach the bus (cfg.Bus is nil here:
// reaching it would panic).
func TestRunCallValidates(t *testing.T) {
	sch, err := compile("t", []byte(`{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}`))
	if err != nil {
		t.Fatal(err)
	}
	fin, err := compile(FinalAnswer, []byte(`{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}`))
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]*jsonschema.Schema{"t": sch, FinalAnswer: fin}
	for _, c := range []struct{ name, args, want string }{
		{"other", `{}`, "no tool \"other\" was offered"},
		{"t", `{"n":`, "not JSON"},
		{"t", `{"n":"x"}`, "do not match"},
		{"t", ``, "do not match"},
	} {
		var call toolCall
		call.Function.Name, call.Function.Arguments = c.name, c.args
		_, err := runCall(context.Background(), Config{}, schemas, call)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s(%s): %v, want %q", c.name, c.args, err, c.want)
		}
	}
	var call toolCall
	call.Function.Name, call.Function.Arguments = FinalAnswer, `{"answer":"42"}`
	if got, err := runCall(context.Background(), Config{}, schemas, call); err != nil || got != "42" {
		t.Fatalf("final answer: %q, %v", got, err)
	}
}
