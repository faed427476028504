package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// FerretDB 1.24 on PostgreSQL keeps each collection in a table with one jsonb column,
// _jsonb, and pushes an equality filter down as `_jsonb->'field' @> value` (dotted paths
// as `_jsonb #> '{a,b}' @> value`). The indexes it creates for createIndexes are btree
// indexes on `(_jsonb->'field')`, which `@>` cannot use, so every query but none scans
// its whole table. indexKeeper adds, for the leading field of every index a collection
// declares (and for _id), a GIN jsonb_path_ops index on exactly that expression, which
// PostgreSQL uses for `@>`: a query served by an index on MongoDB is then served by an
// index here too. Queries whose filters FerretDB does not push down (ranges, $in, $or)
// still filter in FerretDB after the indexed equality part.
//
// It changes only how fast the store answers, never what: the indexes are not unique and
// FerretDB's metadata does not list them (listIndexes shows what the application made).
type indexKeeper struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	mu     sync.Mutex
}

const ginPrefix = "docstore_gin_"

func newIndexKeeper(ctx context.Context, url string, logger *slog.Logger) (*indexKeeper, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &indexKeeper{pool: pool, logger: logger}, nil
}

// run keeps the indexes while ctx lives: a pass every second, besides the passes the
// write gate asks for right after each createIndexes/create command.
func (k *indexKeeper) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if err := k.sync(ctx); err != nil && ctx.Err() == nil {
			k.logger.Debug("docstore: index pass", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type wantedIndex struct {
	schema, table, field, name string
}

// sync creates every missing index now.
func (k *indexKeeper) sync(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	wanted, err := k.wanted(ctx)
	if err != nil {
		return err
	}
	if len(wanted) == 0 {
		return nil
	}
	have := map[string]bool{}
	rows, err := k.pool.Query(ctx, `SELECT schemaname, indexname FROM pg_indexes WHERE indexname LIKE 'docstore\_gin\_%'`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var s, n string
		if err := rows.Scan(&s, &n); err != nil {
			rows.Close()
			return err
		}
		have[s+"."+n] = true
	}
	rows.Close()
	for _, w := range wanted {
		if have[w.schema+"."+w.name] {
			continue
		}
		// fastupdate off: every insert updates the index at once, instead of piling entries
		// into a pending list that some later insert must merge (a pause of hundreds of
		// milliseconds for that insert: the store's p99).
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s USING gin ((%s) jsonb_path_ops) WITH (fastupdate = off)`,
			pgx.Identifier{w.name}.Sanitize(), pgx.Identifier{w.schema, w.table}.Sanitize(), pathExpr(w.field))
		if _, err := k.pool.Exec(ctx, q); err != nil {
			// The collection may have been dropped meanwhile; the next pass sees.
			k.logger.Debug("docstore: create index", slog.String("table", w.table), slog.String("field", w.field), slog.String("error", err.Error()))
			continue
		}
		k.logger.Debug("docstore: added GIN index", slog.String("schema", w.schema), slog.String("table", w.table), slog.String("field", w.field))
	}
	return nil
}

// pathExpr is the expression FerretDB's pushed-down filter uses for field.
func pathExpr(field string) string {
	parts := strings.Split(field, ".")
	if len(parts) == 1 {
		return "_jsonb->" + quoteLiteral(field)
	}
	elems := make([]string, len(parts))
	for i, p := range parts {
		elems[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p) + `"`
	}
	return "_jsonb#>" + quoteLiteral("{"+strings.Join(elems, ",")+"}") + "::text[]"
}

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func ginName(schema, table, field string) string {
	sum := sha256.Sum256([]byte(schema + "\x00" + table + "\x00" + field))
	return ginPrefix + hex.EncodeToString(sum[:10])
}

// wanted lists, from FerretDB's metadata tables, the indexes every collection should have.
func (k *indexKeeper) wanted(ctx context.Context) ([]wantedIndex, error) {
	rows, err := k.pool.Query(ctx, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relname = '_ferretdb_database_metadata' AND c.relkind = 'r'`)
	if err != nil {
		return nil, err
	}
	var schemas []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, err
		}
		schemas = append(schemas, s)
	}
	rows.Close()
	sort.Strings(schemas)
	var out []wantedIndex
	for _, schema := range schemas {
		rows, err := k.pool.Query(ctx, fmt.Sprintf(`SELECT _jsonb::text FROM %s`, pgx.Identifier{schema, "_ferretdb_database_metadata"}.Sanitize()))
		if err != nil {
			continue // dropped meanwhile
		}
		for rows.Next() {
			var raw string
			if err := rows.Scan(&raw); err != nil {
				break
			}
			table, fields, err := leadingFields(raw)
			if err != nil {
				k.logger.Debug("docstore: read collection metadata", slog.String("error", err.Error()))
				continue
			}
			for _, f := range fields {
				out = append(out, wantedIndex{schema: schema, table: table, field: f, name: ginName(schema, table, f)})
			}
		}
		rows.Close()
	}
	return out, nil
}

// leadingFields reads one collection's metadata document (FerretDB's sjson: values plus
// a "$s" schema that keeps each document's key order, since jsonb does not) and returns
// its table and the leading field of each of its indexes, _id first.
func leadingFields(raw string) (string, []string, error) {
	var doc struct {
		Table   string            `json:"table"`
		Indexes []json.RawMessage `json:"indexes"`
		Schema  struct {
			P struct {
				Indexes struct {
					I []struct {
						S struct {
							P struct {
								Key struct {
									S struct {
										K []string `json:"$k"`
									} `json:"$s"`
								} `json:"key"`
							} `json:"p"`
						} `json:"$s"`
					} `json:"i"`
				} `json:"indexes"`
			} `json:"p"`
		} `json:"$s"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		return "", nil, err
	}
	if doc.Table == "" {
		return "", nil, fmt.Errorf("no table in %.200s", raw)
	}
	seen := map[string]bool{"_id": true}
	fields := []string{"_id"}
	for _, item := range doc.Schema.P.Indexes.I {
		keys := item.S.P.Key.S.K
		if len(keys) == 0 {
			continue
		}
		if f := keys[0]; !seen[f] {
			seen[f] = true
			fields = append(fields, f)
		}
	}
	return doc.Table, fields, nil
}

func (k *indexKeeper) close() { k.pool.Close() }
