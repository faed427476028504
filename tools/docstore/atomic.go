package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// FerretDB 1.24 applies a write by reading the document, changing it in Go and storing it
// again, and nothing keeps two such writes on one document from interleaving, on either
// backend. Measured on this build: with SQLite, 100 concurrent {$inc: {n: 1}} on one
// document left n = 2, and 150 concurrent findAndModify({_id, status: "queued"}, {$set:
// {status: "active"}}) on 50 documents succeeded 128 times instead of 50; with PostgreSQL,
// 20 callers racing to claim one document all "won", in every round. MongoDB applies every
// single-document write atomically, and the hub relies on that (first joins, queue claims,
// agent slots), as any MongoDB application may.
//
// writeGate stands in front of FerretDB on the public port and lets one command that
// changes existing documents (update, findAndModify, delete) through at a time, from its
// request to its reply. Inserts only add documents (a unique index settles their races) and
// reads change nothing, so both pass freely: the message path's batched inserts keep their
// pace. It changes what the local store answers only where it was wrong; it touches no data.
type writeGate struct {
	backend string
	// Per collection, a token in the channel is the right to have one write command in
	// flight on it: one document lives in one collection, so writes to different
	// collections cannot interleave on a document and need not wait for each other.
	mu     sync.Mutex
	turns  map[string]chan struct{}
	logger *slog.Logger
	// afterIndexCommand, when set, runs after FerretDB answers a createIndexes or create
	// command and before the client sees that answer (the PostgreSQL store adds its own
	// indexes there, so they exist when the application's createIndexes returns).
	afterIndexCommand func(ctx context.Context)
	// rewriteFilters moves dotted filter conditions out of FerretDB's pushdown (filters.go).
	rewriteFilters bool
}

var indexCommands = map[string]bool{
	"createIndexes": true,
	"createindexes": true,
	"create":        true,
}

var writeCommands = map[string]bool{
	"update":        true,
	"delete":        true,
	"findAndModify": true,
	"findandmodify": true,
}

const (
	opMsg         = 2013
	maxMessageLen = 48 * 1024 * 1024
	flagChecksum  = 1 << 0
	flagMoreToCom = 1 << 1
)

func newWriteGate(backend string, logger *slog.Logger) *writeGate {
	return &writeGate{backend: backend, turns: map[string]chan struct{}{}, logger: logger}
}

// turnFor returns the write turn of one collection (the number of collections is bounded
// by what FerretDB holds; a turn is a one-slot channel).
func (g *writeGate) turnFor(collection string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.turns[collection]
	if t == nil {
		t = make(chan struct{}, 1)
		g.turns[collection] = t
	}
	return t
}

// serve accepts client connections until ctx ends.
func (g *writeGate) serve(ctx context.Context, ln net.Listener) {
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	for {
		client, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				g.logger.Error("docstore: accept", slog.String("error", err.Error()))
			}
			return
		}
		go g.relay(ctx, client)
	}
}

// relay pipes one client connection to its own FerretDB connection, holding the write
// turn from each write command until FerretDB's reply to it.
func (g *writeGate) relay(ctx context.Context, client net.Conn) {
	defer client.Close()
	server, err := (&net.Dialer{}).DialContext(ctx, "tcp", g.backend)
	if err != nil {
		g.logger.Warn("docstore: reach FerretDB", slog.String("error", err.Error()))
		return
	}
	defer server.Close()

	var mu sync.Mutex
	waiting := map[int32]chan struct{}{} // request ids of writes holding a turn, and that turn
	indexing := map[int32]bool{}         // request ids of index commands awaiting their reply
	release := func(requestID int32) {
		mu.Lock()
		held := waiting[requestID]
		delete(waiting, requestID)
		mu.Unlock()
		if held != nil {
			<-held
		}
	}
	defer func() {
		// A connection that closes mid-write gives its turns back.
		mu.Lock()
		held := waiting
		waiting = map[int32]chan struct{}{}
		mu.Unlock()
		for _, t := range held {
			<-t
		}
	}()

	done := make(chan struct{})
	go func() {
		defer close(done)
		defer server.Close()
		for {
			msg, err := readMessage(client)
			if err != nil {
				return
			}
			requestID := int32(binary.LittleEndian.Uint32(msg[4:8]))
			name, noReply := commandName(msg)
			if g.rewriteFilters && filterCommands[name] {
				msg = rewriteCommandFilters(msg)
			}
			write := writeCommands[name]
			if indexCommands[name] && !noReply && g.afterIndexCommand != nil {
				mu.Lock()
				indexing[requestID] = true
				mu.Unlock()
			}
			if write {
				turn := g.turnFor(commandCollection(msg))
				select {
				case turn <- struct{}{}:
				case <-ctx.Done():
					return
				}
				mu.Lock()
				waiting[requestID] = turn
				mu.Unlock()
			}
			if _, err := server.Write(msg); err != nil {
				release(requestID)
				return
			}
			if write && noReply {
				release(requestID)
			}
		}
	}()

	for {
		msg, err := readMessage(server)
		if err != nil {
			break
		}
		responseTo := int32(binary.LittleEndian.Uint32(msg[8:12]))
		mu.Lock()
		isIndex := indexing[responseTo]
		delete(indexing, responseTo)
		mu.Unlock()
		if isIndex {
			g.afterIndexCommand(ctx)
		}
		msg = fixDuplicateKeyReply(msg)
		if _, err := client.Write(msg); err != nil {
			release(responseTo)
			break
		}
		release(responseTo)
	}
	_ = client.Close()
	<-done
}

// readMessage reads one whole wire-protocol message (header included).
func readMessage(r io.Reader) ([]byte, error) {
	var header [16]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	length := int(binary.LittleEndian.Uint32(header[0:4]))
	if length < 16 || length > maxMessageLen {
		return nil, fmt.Errorf("bad message length %d", length)
	}
	msg := make([]byte, length)
	copy(msg, header[:])
	if _, err := io.ReadFull(r, msg[16:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// commandBody returns an OP_MSG's command document (its kind-0 section) and its flags, or
// nil for anything else or a malformed message.
func commandBody(msg []byte) ([]byte, uint32) {
	if len(msg) < 21 || int32(binary.LittleEndian.Uint32(msg[12:16])) != opMsg {
		return nil, 0
	}
	flags := binary.LittleEndian.Uint32(msg[16:20])
	end := len(msg)
	if flags&flagChecksum != 0 {
		end -= 4
	}
	for i := 20; i < end; {
		kind := msg[i]
		i++
		if i+4 > end {
			return nil, 0
		}
		size := int(binary.LittleEndian.Uint32(msg[i : i+4]))
		if size < 5 || i+size > end {
			return nil, 0
		}
		if kind == 0 {
			return msg[i : i+size], flags
		}
		i += size // a document sequence (kind 1): skip it
	}
	return nil, 0
}

// commandName returns the command of an OP_MSG ("" for anything else), and whether the
// client asked for no reply (moreToCome).
func commandName(msg []byte) (name string, noReply bool) {
	body, flags := commandBody(msg)
	if body == nil {
		return "", false
	}
	name, err := firstKey(body)
	if err != nil {
		return "", false
	}
	return name, flags&flagMoreToCom != 0
}

// commandCollection returns "<db>.<collection>" of a command (its first element's value and
// its $db), or "" when the message has none: such writes share one turn.
func commandCollection(msg []byte) string {
	body, _ := commandBody(msg)
	if body == nil {
		return ""
	}
	doc := bsoncore.Document(body)
	first, err := doc.IndexErr(0)
	if err != nil {
		return ""
	}
	coll, ok := first.Value().StringValueOK()
	if !ok {
		return ""
	}
	db, _ := doc.Lookup("$db").StringValueOK()
	return db + "." + coll
}

// firstKey returns the name of a BSON document's first element: the command name.
func firstKey(doc []byte) (string, error) {
	if len(doc) < 6 {
		return "", errors.New("empty document")
	}
	// doc[4] is the element type; the name is a NUL-terminated string after it.
	for j := 5; j < len(doc); j++ {
		if doc[j] == 0 {
			return string(doc[5:j]), nil
		}
	}
	return "", errors.New("unterminated element name")
}
