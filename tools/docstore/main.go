// Command docstore runs FerretDB with its embedded SQLite backend as a local,
// MongoDB-wire-compatible document store for development, tests and CI.
//
// Usage: docstore -listen 127.0.0.1:27017 -data ./data
//
// It prints one line "docstore listening on mongodb://HOST:PORT/" to stdout once
// the listener is ready, so a parent process can wait for it, and exits cleanly on
// SIGINT/SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (port 0 picks a free port)")
	dataDir := flag.String("data", "data", "directory for the SQLite database files")
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

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: backend},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		fail(logger, "configure FerretDB", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx)
	}()
	go keepIDIndexes(ctx, abs, logger)

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
	go newWriteGate(backend, logger).serve(ctx, public)
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

func fail(logger *slog.Logger, what string, err error) {
	logger.Error("docstore: "+what, slog.String("error", err.Error()))
	os.Exit(1)
}
