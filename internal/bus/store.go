package bus

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	busapi "github.com/raym33/ainative/client/bus"
	_ "modernc.org/sqlite" // pure-Go SQLite with FTS5, no cgo
)

// Limits on context items.
const (
	MaxItemText   = 64 << 10            // bytes of text per item
	DefaultTTL    = 24 * time.Hour      // when a publisher names none
	MaxTTL        = 30 * 24 * time.Hour // longer TTLs are cut to this
	MaxQueryLimit = 100                 // items per query
	maxScan       = 10000               // rows examined per query before filtering stops
)

// store keeps context items in SQLite with an FTS5 index, so that context
// survives restarts and relevance queries need no model.
type store struct{ db *sql.DB }

const schema = `
CREATE TABLE IF NOT EXISTS items (
	id INTEGER PRIMARY KEY,
	uid INTEGER NOT NULL, gid INTEGER NOT NULL, pid INTEGER NOT NULL, exe TEXT NOT NULL,
	kind TEXT NOT NULL, sensitivity TEXT NOT NULL, text TEXT NOT NULL,
	created INTEGER NOT NULL, expires INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS items_expires ON items(expires);
CREATE INDEX IF NOT EXISTS items_created ON items(created);
CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(text, content='items', content_rowid='id');
CREATE TRIGGER IF NOT EXISTS items_ai AFTER INSERT ON items BEGIN
	INSERT INTO items_fts(rowid, text) VALUES (new.id, new.text); END;
CREATE TRIGGER IF NOT EXISTS items_ad AFTER DELETE ON items BEGIN
	INSERT INTO items_fts(items_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
`

func openStore(path string) (*store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("context store %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serializes anyway
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("context store %s: %w", path, err)
	}
	if err := addVectorColumns(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("context store %s: %w", path, err)
	}
	return &store{db: db}, nil
}

// addVectorColumns adds the embedding columns to a database made before
// they existed: vec (little-endian float32, L2-normalized; empty when the
// text cannot be embedded) and vec_model (the model that made it, so a
// change of model re-embeds rather than compares unlike vectors).
func addVectorColumns(db *sql.DB) error {
	rows, err := db.Query(`SELECT name FROM pragma_table_info('items')`)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		have[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, col := range []string{"vec BLOB", "vec_model TEXT"} {
		if name, _, _ := strings.Cut(col, " "); !have[name] {
			if _, err := db.Exec(`ALTER TABLE items ADD COLUMN ` + col); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *store) close() error { return s.db.Close() }

// checkPublish checks an item and fills in the default sensitivity
// (private). Kinds are not a closed list: cwd, selection, error, document,
// notification and any other short lowercase word.
func checkPublish(p *busapi.PublishParams) error {
	if p.Kind == "" || len(p.Kind) > 32 || strings.ContainsFunc(p.Kind, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) {
		return fmt.Errorf("context item: kind %q must be 1-32 characters of a-z, 0-9, '-', '_', '.'", p.Kind)
	}
	if len(p.Text) > MaxItemText {
		return fmt.Errorf("context item: text of %d bytes exceeds %d", len(p.Text), MaxItemText)
	}
	switch p.Sensitivity {
	case "":
		p.Sensitivity = busapi.Private
	case busapi.Public, busapi.Private, busapi.Secret:
	default:
		return fmt.Errorf("context item: sensitivity %q is not public, private or secret", p.Sensitivity)
	}
	if p.TTLSeconds < 0 {
		return fmt.Errorf("context item: negative ttlSeconds %d", p.TTLSeconds)
	}
	return nil
}

func (s *store) publish(ctx context.Context, owner busapi.Identity, p busapi.PublishParams, now time.Time) (int64, error) {
	ttl := time.Duration(p.TTLSeconds) * time.Second
	if ttl == 0 {
		ttl = DefaultTTL
	}
	ttl = min(ttl, MaxTTL)
	res, err := s.db.ExecContext(ctx, `INSERT INTO items(uid,gid,pid,exe,kind,sensitivity,text,created,expires) VALUES (?,?,?,?,?,?,?,?,?)`,
		owner.UID, owner.GID, owner.PID, owner.Exe, p.Kind, p.Sensitivity, p.Text, now.UnixNano(), now.Add(ttl).UnixNano())
	if err != nil {
		return 0, fmt.Errorf("storing context item: %w", err)
	}
	return res.LastInsertId()
}

// expire deletes items whose TTL has passed.
func (s *store) expire(ctx context.Context, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM items WHERE expires <= ?`, now.UnixNano())
	return err
}

// query returns up to limit live items that visible lets through: by
// full-text relevance when q.Text is set, else newest first.
func (s *store) query(ctx context.Context, q busapi.QueryParams, now time.Time, visible func(*busapi.Item) bool) ([]busapi.Item, error) {
	limit := queryLimit(q.Limit)
	var rows *sql.Rows
	var err error
	if match := ftsQuery(q.Text); match != "" {
		rows, err = s.db.QueryContext(ctx, `SELECT `+cols+` FROM items_fts JOIN items ON items.id = items_fts.rowid
			WHERE items_fts MATCH ? AND expires > ? ORDER BY bm25(items_fts) LIMIT ?`, match, now.UnixNano(), maxScan)
	} else {
		rows, err = s.db.QueryContext(ctx, `SELECT `+cols+` FROM items WHERE expires > ? ORDER BY created DESC, id DESC LIMIT ?`, now.UnixNano(), maxScan)
	}
	if err != nil {
		return nil, fmt.Errorf("querying context: %w", err)
	}
	defer rows.Close()
	kinds := kindSetOf(q.Kinds)
	items := []busapi.Item{}
	for rows.Next() && len(items) < limit {
		it, err := scanItem(rows)
		if err != nil {
			return nil, fmt.Errorf("querying context: %w", err)
		}
		if kinds.admits(it.Kind) && visible(it) {
			items = append(items, *it)
		}
	}
	return items, rows.Err()
}

// queryLimit is the number of items a query returns: 10 by default, at
// most MaxQueryLimit.
func queryLimit(n int) int {
	if n <= 0 {
		return 10
	}
	return min(n, MaxQueryLimit)
}

// kindSet filters items by kind; empty admits every kind.
type kindSet map[string]bool

func (k kindSet) admits(kind string) bool { return len(k) == 0 || k[kind] }

// ftsQuery turns free text into an FTS5 query matching any of its words,
// each quoted so that no FTS5 syntax in the text is interpreted.
func ftsQuery(text string) string {
	var terms []string
	for _, w := range strings.FieldsFunc(text, func(r rune) bool {
		return !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 127)
	}) {
		terms = append(terms, `"`+w+`"`)
		if len(terms) == 32 {
			break
		}
	}
	return strings.Join(terms, " OR ")
}

// get returns the live item id, or nil.
func (s *store) get(ctx context.Context, id int64, now time.Time) (*busapi.Item, error) {
	it, err := scanItem(s.db.QueryRowContext(ctx, `SELECT `+cols+` FROM items WHERE id = ? AND expires > ?`, id, now.UnixNano()))
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading context item %d: %w", id, err)
	}
	return it, nil
}

// cols are the columns scanItem reads, qualified so that they also name
// the items table's in a join with items_fts.
const cols = `items.id, uid, gid, pid, exe, kind, sensitivity, items.text, created, expires`

// scanItem reads one row of cols.
func scanItem(row interface{ Scan(...any) error }) (*busapi.Item, error) {
	var it busapi.Item
	var created, expires int64
	if err := row.Scan(&it.ID, &it.Owner.UID, &it.Owner.GID, &it.Owner.PID, &it.Owner.Exe, &it.Kind, &it.Sensitivity, &it.Text, &created, &expires); err != nil {
		return nil, err
	}
	it.Created, it.Expires = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	return &it, nil
}

// kindSet builds the filter of a query's kinds.
func kindSetOf(kinds []string) kindSet {
	k := kindSet{}
	for _, kind := range kinds {
		k[kind] = true
	}
	return k
}
