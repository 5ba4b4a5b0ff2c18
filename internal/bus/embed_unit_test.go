package bus

import (
	"context"
	"database/sql"
	"errors"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	busapi "github.com/raym33/ainative/client/bus"
)

// wordVectors embeds a text as the sum of one pseudo-random direction per
// word: deterministic, and texts sharing words are similar. A text with
// the word "unembeddable" is refused as the runtime refuses a bad input.
func wordVectors(calls *atomic.Int32) EmbedFunc {
	return func(_ context.Context, texts []string) ([][]float32, error) {
		calls.Add(1)
		out := make([][]float32, len(texts))
		for i, t := range texts {
			if strings.Contains(t, "unembeddable") {
				return nil, ErrUnembeddable
			}
			v := make([]float32, 256)
			for _, w := range strings.Fields(t) {
				h := fnv.New64a()
				h.Write([]byte(w))
				r := rand.New(rand.NewPCG(h.Sum64(), 1))
				for j := range v {
					v[j] += float32(r.NormFloat64())
				}
			}
			out[i] = v
		}
		return out, nil
	}
}

func publishAll(t *testing.T, st *store, owner busapi.Identity, texts ...string) {
	t.Helper()
	for _, text := range texts {
		if _, err := st.publish(context.Background(), owner, busapi.PublishParams{Kind: "note", Text: text, Sensitivity: busapi.Private}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// A text the runtime refuses is stored without a vector and not retried;
// the others of its batch are embedded; the ranking puts the exact text
// first, keeps to the limit, the kinds and what the caller may see.
func TestBackfillAndRank(t *testing.T) {
	st, err := openStore(filepath.Join(t.TempDir(), "context.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	me := busapi.Identity{UID: 1000}
	publishAll(t, st, me, "red apple pie", "an unembeddable text", "green apple tart", "blue sky")
	publishAll(t, st, busapi.Identity{UID: 2000}, "red apple pie too")
	var calls atomic.Int32
	e := newEmbedder("words", wordVectors(&calls), st, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	n, err := e.backfill(ctx, 100)
	if err != nil || n != 5 {
		t.Fatalf("backfill stored %d (%v), want 5", n, err)
	}
	var empty int
	if err := st.db.QueryRow(`SELECT count(*) FROM items WHERE vec_model = 'words' AND length(vec) = 0`).Scan(&empty); err != nil || empty != 1 {
		t.Fatalf("%d items stored as unembeddable (%v), want 1", empty, err)
	}
	before := calls.Load()
	if n, err := e.backfill(ctx, 100); err != nil || n != 0 || calls.Load() != before {
		t.Fatalf("second backfill: %d stored, %v, %d calls: nothing should be retried", n, err, calls.Load()-before)
	}
	mine := func(it *busapi.Item) bool { return it.Owner.UID == me.UID }
	items, ok, err := e.rank(ctx, busapi.QueryParams{Text: "red apple pie", Limit: 2}, time.Now(), mine)
	if err != nil || !ok || len(items) != 2 || items[0].Text != "red apple pie" || items[1].Text != "green apple tart" {
		t.Fatalf("rank: %q ok=%v %v, want the exact text then the other apple", texts(items), ok, err)
	}
	items, _, err = e.rank(ctx, busapi.QueryParams{Text: "red apple pie", Kinds: []string{"cwd"}}, time.Now(), mine)
	if err != nil || len(items) != 0 {
		t.Fatalf("rank of another kind: %q, %v", texts(items), err)
	}
	// A new model's vectors are not compared with the old ones: the
	// items are embedded again.
	e2 := newEmbedder("other", wordVectors(&calls), st, slog.New(slog.DiscardHandler))
	if n, err := e2.backfill(ctx, 100); err != nil || n != 5 {
		t.Fatalf("backfill for a new model: %d, %v", n, err)
	}
}

// The runtime failing is no failure of the query: rank says so and the
// bus falls back, logging the outage once.
func TestRankRuntimeDown(t *testing.T) {
	st, err := openStore(filepath.Join(t.TempDir(), "context.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	publishAll(t, st, busapi.Identity{UID: 1}, "some text")
	rec := &logRecorder{}
	down := errors.New("no ainative runtime is running")
	e := newEmbedder("m", func(context.Context, []string) ([][]float32, error) { return nil, down }, st, slog.New(rec))
	for range 3 {
		items, ok, err := e.rank(context.Background(), busapi.QueryParams{Text: "some"}, time.Now(), func(*busapi.Item) bool { return true })
		if ok || err != nil || items != nil {
			t.Fatalf("rank with the runtime down: %v %v %v", items, ok, err)
		}
	}
	if n := len(rec.find(map[string]string{"err": down.Error()})); n != 1 {
		t.Fatalf("outage logged %d times, want once", n)
	}
}

// The embedder refuses answers of the wrong shape.
func TestEmbedAnswerChecked(t *testing.T) {
	for _, bad := range [][][]float32{nil, {{}}, {make([]float32, maxDims+1)}, {{1}, {1}}} {
		e := newEmbedder("m", func(context.Context, []string) ([][]float32, error) { return bad, nil }, nil, slog.New(slog.DiscardHandler))
		if _, err := e.call(context.Background(), []string{"x"}); err == nil {
			t.Errorf("answer of %d vectors accepted", len(bad))
		}
	}
}

// A database made before the vector columns existed gains them, and its
// items are waiting to be embedded.
func TestStoreMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "context.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, uid INTEGER NOT NULL, gid INTEGER NOT NULL, pid INTEGER NOT NULL, exe TEXT NOT NULL,
		kind TEXT NOT NULL, sensitivity TEXT NOT NULL, text TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL);
		INSERT INTO items VALUES (1, 0, 0, 1, '/x', 'note', 'public', 'old item', 0, 9000000000000000000);`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for range 2 { // opening again changes nothing
		st, err := openStore(path)
		if err != nil {
			t.Fatal(err)
		}
		ids, _, err := st.pending(context.Background(), "m", time.Now(), 10)
		st.close()
		if err != nil || len(ids) != 1 || ids[0] != 1 {
			t.Fatalf("pending after migration: %v, %v", ids, err)
		}
	}
}

func TestNormalized(t *testing.T) {
	v := normalized([]float32{3, 4})
	if v[0] != 0.6 || v[1] != 0.8 {
		t.Fatalf("normalized(3,4) = %v", v)
	}
	for _, bad := range [][]float32{{0, 0}, {float32(nanF()), 1}} {
		for _, x := range normalized(bad) {
			if x != 0 {
				t.Fatalf("normalized(%v) = %v, want zeros", bad, normalized(bad))
			}
		}
	}
	if got := dot(normalized([]float32{1, 2, 3}), encodeVector(normalized([]float32{1, 2, 3}))); got < 0.9999 || got > 1.0001 {
		t.Fatalf("cosine of a vector with itself: %v", got)
	}
}

func nanF() float64 { var z float64; return z / z }

func TestBackendPolicyDecisions(t *testing.T) {
	p, err := ParsePolicy([]byte(`
embedding_model = "nomic-embed-text"
[[backend]]
name = "lab"
uids = [1000]
exes = ["/usr/bin/editor"]
[[backend]]
name = "lab"
uids = [1001]
[[backend]]
name = "cloud"
`))
	if err != nil {
		t.Fatal(err)
	}
	if p.EmbeddingModel != "nomic-embed-text" {
		t.Fatalf("embedding_model %q", p.EmbeddingModel)
	}
	for _, c := range []struct {
		id      busapi.Identity
		gateway bool
		backend string
		want    bool
	}{
		{busapi.Identity{UID: 1000, Exe: "/usr/bin/editor"}, false, "lab", true},
		{busapi.Identity{UID: 1000, Exe: "/usr/bin/other"}, false, "lab", false},
		{busapi.Identity{UID: 1001, Exe: "/usr/bin/other"}, false, "lab", true},
		{busapi.Identity{UID: 0}, false, "lab", false},
		{busapi.Identity{UID: 0}, false, "cloud", true},
		{busapi.Identity{UID: 0}, true, "cloud", false},
		{busapi.Identity{UID: 1000, Exe: "/usr/bin/editor"}, false, "elsewhere", false},
	} {
		if got, why := p.mayUseBackend(c.id, c.gateway, c.backend); got != c.want {
			t.Errorf("%+v gateway=%v on %s: %v (%s), want %v", c.id, c.gateway, c.backend, got, why, c.want)
		}
	}
	if ok, _ := (&Policy{}).mayUseBackend(busapi.Identity{UID: 0}, false, "lab"); ok {
		t.Fatal("the default policy lets root use a remote backend")
	}
	for _, c := range []struct{ in, want string }{
		{"[[backend]]\nuids = [1]", "backend 1: name is required"},
		{"[[backend]]\nname = \"x\"\nallow = [1]", `unknown key "backend.allow"`},
		{"embedding_model = 3", "embedding_model"},
	} {
		if _, err := ParsePolicy([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}

// The example of Policy's doc comment parses to what it says.
func TestPolicyDocExample(t *testing.T) {
	p, err := ParsePolicy([]byte(`consent_agents = ["/usr/local/bin/my-consent-ui"]
read_roots = ["/home", "/tmp"]
embedding_model = "nomic-embed-text"  # relevance by embeddings (a local model)

[[rule]]            # uid 65534 may never run commands
uids = [65534]
tools = ["run_command"]
action = "deny"

[[rule]]            # the editor may write files without asking
exes = ["/usr/bin/editor"]
effects = ["write"]
action = "allow"

[[context]]         # uid 1001 may read uid 1000's private "cwd" items
uids = [1001]
owners = [1000]
kinds = ["cwd"]

[[backend]]         # uid 1000's editor may use the remote backend "lab"
name = "lab"
uids = [1000]
exes = ["/usr/bin/editor"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if p.EmbeddingModel != "nomic-embed-text" || len(p.Rules) != 2 || len(p.Context) != 1 || len(p.Backends) != 1 {
		t.Fatalf("parsed %+v", p)
	}
	if ok, _ := p.mayUseBackend(busapi.Identity{UID: 1000, Exe: "/usr/bin/editor"}, false, "lab"); !ok {
		t.Fatal("the editor of uid 1000 may not use lab")
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		"embedding_model = \"m\"\n[[backend]]\nname = \"lab\"\nuids = [1]\nexes = [\"/x\"]",
		"[[rule]]\naction = \"deny\"\ntools = [\"run_*\"]",
		"[[context]]\nuids = [1]\nowners = [2]",
		"read_roots = [\"/home\"]",
		"[[backend]]\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy([]byte(s))
		if err != nil {
			return
		}
		for _, b := range p.Backends {
			if b.Name == "" {
				t.Fatal("a backend grant without a name was accepted")
			}
		}
	})
}
