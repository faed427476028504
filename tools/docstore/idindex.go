package main

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the SQLite driver FerretDB itself uses
)

// FerretDB 1.24's SQLite backend creates each collection's unique _id index on the
// expression `_ferretdb_sjson->"_id"`, but looks documents up (find by _id, update,
// delete) with `_ferretdb_sjson->'$._id'`. SQLite matches expression indexes by their
// text, so it never uses that index: every _id lookup, update and delete scans the
// whole table (EXPLAIN QUERY PLAN says SCAN), and an update costs time proportional to
// the collection's size. keepIDIndexes adds, for every collection table, a plain index
// on the expression the queries use (EXPLAIN then says SEARCH ... USING INDEX).
//
// This only changes how fast the local development store answers; it does not change
// what it answers (the index is not unique and FerretDB's metadata does not list it).
func keepIDIndexes(ctx context.Context, dir string, logger *slog.Logger) {
	handles := map[string]*sql.DB{}
	defer func() {
		for _, db := range handles {
			_ = db.Close()
		}
	}()
	done := map[string]bool{}
	ticker := time.NewTicker(300 * time.Millisecond)
	defer ticker.Stop()
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.sqlite"))
		for _, file := range files {
			db := handles[file]
			if db == nil {
				var err error
				db, err = sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)")
				if err != nil {
					continue
				}
				db.SetMaxOpenConns(1)
				handles[file] = db
			}
			if err := indexTables(ctx, db, done, file, logger); err != nil && ctx.Err() == nil {
				logger.Debug("docstore: _id index pass", slog.String("file", filepath.Base(file)), slog.String("error", err.Error()))
				// A dropped database: forget its handle.
				if _, statErr := os.Stat(file); statErr != nil {
					_ = db.Close()
					delete(handles, file)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func indexTables(ctx context.Context, db *sql.DB, done map[string]bool, file string, logger *slog.Logger) error {
	rows, err := db.QueryContext(ctx, `SELECT t.name FROM sqlite_master t WHERE t.type = 'table'
		AND t.name IN (SELECT table_name FROM _ferretdb_collections)
		AND NOT EXISTS (SELECT 1 FROM sqlite_master i WHERE i.type = 'index' AND i.name = t.name || '__id_lookup')`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			_ = rows.Close()
			return err
		}
		tables = append(tables, name)
	}
	_ = rows.Close()
	for _, table := range tables {
		key := file + "\x00" + table
		q := `CREATE INDEX IF NOT EXISTS "` + quote(table+"__id_lookup") + `" ON "` + quote(table) + `" (_ferretdb_sjson->'$._id')`
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
		if !done[key] {
			done[key] = true
			logger.Debug("docstore: added _id lookup index", slog.String("table", table))
		}
	}
	return nil
}

func quote(identifier string) string {
	return strings.ReplaceAll(identifier, `"`, `""`)
}
