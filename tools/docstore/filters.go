package main

import (
	"encoding/binary"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// FerretDB 1.24 pushes a filter's top-level equalities down to PostgreSQL. For `find` and
// `aggregate` it leaves dotted paths out (nested pushdown is off by default), but `update`,
// `findAndModify`, `delete` and `count` push them down too, as `_jsonb #> '{a,b}' @> value`.
// When `a` is an array of sub-documents that path is NULL in PostgreSQL, so the pre-filter
// drops every document and `{_id: X, 'participants.id': 'p'}` matches nothing, where MongoDB
// matches a document with an element whose id is 'p' (FerretDB's own filter, run after the
// pushed-down one, would have answered right). FerretDB pushes down only top-level fields,
// never what is inside `$and`, so the write gate moves every top-level dotted condition into
// `$and`: the same query in MongoDB's semantics, evaluated wholly by FerretDB, as its own
// `find` does. It only touches filters with a dotted top-level key; all other bytes pass
// unchanged.
//
// Upserts are left alone: MongoDB seeds an upserted document from the query's equality
// conditions, and an `$and` would not be read the same by every server.

// filterPaths tells, per command, where its filters are.
var filterCommands = map[string]bool{
	"find": true, "count": true, "distinct": true, "findAndModify": true, "findandmodify": true,
	"delete": true, "update": true, "aggregate": true, "explain": true,
}

// rewriteCommandFilters returns msg with the filters of its command rewritten, or msg itself.
func rewriteCommandFilters(msg []byte) []byte {
	flags := binary.LittleEndian.Uint32(msg[16:20])
	end := len(msg)
	if flags&flagChecksum != 0 {
		end -= 4
	}
	type section struct {
		kind byte
		raw  []byte // the section's bytes after its kind byte
	}
	var sections []section
	changed := false
	var command string
	for i := 20; i < end; {
		kind := msg[i]
		i++
		if i+4 > end {
			return msg
		}
		size := int(binary.LittleEndian.Uint32(msg[i : i+4]))
		if size < 5 || i+size > end {
			return msg
		}
		raw := msg[i : i+size]
		switch kind {
		case 0:
			doc := bsoncore.Document(raw)
			name, err := firstKey(raw)
			if err != nil {
				return msg
			}
			command = name
			if out, ok := rewriteBody(name, doc); ok {
				raw, changed = out, true
			}
		case 1:
			// A document sequence: int32 size, cstring identifier, documents.
			if out, ok := rewriteSequence(raw); ok {
				raw, changed = out, true
			}
		}
		sections = append(sections, section{kind, raw})
		i += size
	}
	_ = command
	if !changed {
		return msg
	}
	out := make([]byte, 0, len(msg)+64)
	out = append(out, msg[:16]...)
	out = binary.LittleEndian.AppendUint32(out, flags&^flagChecksum)
	for _, s := range sections {
		out = append(out, s.kind)
		out = append(out, s.raw...)
	}
	binary.LittleEndian.PutUint32(out[0:4], uint32(len(out)))
	return out
}

// rewriteBody rewrites the filters of one command document.
func rewriteBody(name string, doc bsoncore.Document) (bsoncore.Document, bool) {
	switch name {
	case "find":
		return replaceField(doc, "filter", rewriteFilterValue)
	case "count", "distinct", "findAndModify", "findandmodify":
		return replaceField(doc, "query", rewriteFilterValue)
	case "delete":
		return replaceField(doc, "deletes", func(v bsoncore.Value) (bsoncore.Value, bool) { return mapArray(v, rewriteDelete) })
	case "update":
		return replaceField(doc, "updates", func(v bsoncore.Value) (bsoncore.Value, bool) { return mapArray(v, rewriteUpdate) })
	case "aggregate":
		return replaceField(doc, "pipeline", func(v bsoncore.Value) (bsoncore.Value, bool) {
			return mapArrayFirst(v, func(stage bsoncore.Document) (bsoncore.Document, bool) {
				return replaceField(stage, "$match", rewriteFilterValue)
			})
		})
	case "explain":
		return replaceField(doc, "explain", func(v bsoncore.Value) (bsoncore.Value, bool) {
			inner, ok := v.DocumentOK()
			if !ok {
				return v, false
			}
			innerName, err := firstKey(inner)
			if err != nil {
				return v, false
			}
			out, changed := rewriteBody(innerName, inner)
			return bsoncore.Value{Type: bsontype.EmbeddedDocument, Data: out}, changed
		})
	}
	return doc, false
}

// FerretDB 1.24 runs each statement of an update or delete command as a query plus a
// write, and keeps each statement's query open (holding one PostgreSQL connection) until the
// whole command ends, unless the statement read its query to the end, which a single-document
// statement (multi: false, limit: 1) never does. A bulk write of more single-document
// statements than FerretDB's connection pool holds therefore waits forever for a connection
// (seen: a bulk write of 40 updateOne by _id hung the store). A statement whose filter is an
// equality on _id matches at most one document whatever its multi/limit says, so the gate
// sends it as a multi-document statement: the same result in MongoDB's semantics, and
// FerretDB reads its query to the end and gives the connection back at once.

// rewriteUpdate rewrites one update statement: its filter, and multi for an _id equality.
func rewriteUpdate(stmt bsoncore.Document) (bsoncore.Document, bool) {
	if isUpsert(stmt) {
		return stmt, false
	}
	out, changed := replaceField(stmt, "q", rewriteFilterValue)
	if byID(stmt) && hasOperators(stmt.Lookup("u")) {
		if b, ok := stmt.Lookup("multi").BooleanOK(); !ok || !b {
			out = setField(out, "multi", bsoncore.Value{Type: bsontype.Boolean, Data: []byte{1}})
			changed = true
		}
	}
	return out, changed
}

// rewriteDelete rewrites one delete statement: its filter, and limit for an _id equality.
func rewriteDelete(stmt bsoncore.Document) (bsoncore.Document, bool) {
	out, changed := replaceField(stmt, "q", rewriteFilterValue)
	if byID(stmt) {
		if n, ok := stmt.Lookup("limit").AsInt64OK(); ok && n == 1 {
			out = setField(out, "limit", bsoncore.Value{Type: bsontype.Int32, Data: bsoncore.AppendInt32(nil, 0)})
			changed = true
		}
	}
	return out, changed
}

func isUpsert(stmt bsoncore.Document) bool {
	b, ok := stmt.Lookup("upsert").BooleanOK()
	return ok && b
}

// byID tells whether a statement's filter holds a top-level equality on _id with a plain value.
func byID(stmt bsoncore.Document) bool {
	q, ok := stmt.Lookup("q").DocumentOK()
	if !ok {
		return false
	}
	id, err := q.LookupErr("_id")
	if err != nil {
		return false
	}
	switch id.Type {
	case bsontype.EmbeddedDocument, bsontype.Array, bsontype.Regex, bsontype.Null, bsontype.Undefined:
		return false
	}
	return true
}

// hasOperators tells whether an update document is made of operators ($set…), not a replacement.
func hasOperators(u bsoncore.Value) bool {
	doc, ok := u.DocumentOK()
	if !ok {
		return false
	}
	first, err := doc.IndexErr(0)
	return err == nil && strings.HasPrefix(first.Key(), "$")
}

// setField returns doc with key set to v (replaced in place, or appended).
func setField(doc bsoncore.Document, key string, v bsoncore.Value) bsoncore.Document {
	if _, err := doc.LookupErr(key); err == nil {
		out, _ := replaceField(doc, key, func(bsoncore.Value) (bsoncore.Value, bool) { return v, true })
		return out
	}
	elems, _ := doc.Elements()
	idx, dst := bsoncore.AppendDocumentStart(nil)
	for _, e := range elems {
		dst = append(dst, e...)
	}
	dst = bsoncore.AppendValueElement(dst, key, v)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

func rewriteSequence(raw []byte) ([]byte, bool) {
	// raw: int32 size, identifier cstring, then BSON documents.
	j := 4
	for j < len(raw) && raw[j] != 0 {
		j++
	}
	if j >= len(raw) {
		return raw, false
	}
	ident := string(raw[4:j])
	if ident != "updates" && ident != "deletes" {
		return raw, false
	}
	rest := raw[j+1:]
	var docs [][]byte
	changed := false
	for len(rest) > 0 {
		doc, remaining, ok := bsoncore.ReadDocument(rest)
		if !ok {
			return raw, false
		}
		rewrite := rewriteUpdate
		if ident == "deletes" {
			rewrite = rewriteDelete
		}
		if out, c := rewrite(doc); c {
			doc, changed = out, true
		}
		docs = append(docs, doc)
		rest = remaining
	}
	if !changed {
		return raw, false
	}
	out := make([]byte, 4, len(raw)+64)
	out = append(out, raw[4:j+1]...)
	for _, d := range docs {
		out = append(out, d...)
	}
	binary.LittleEndian.PutUint32(out[0:4], uint32(len(out)))
	return out, true
}

func rewriteFilterValue(v bsoncore.Value) (bsoncore.Value, bool) {
	doc, ok := v.DocumentOK()
	if !ok {
		return v, false
	}
	out, changed := rewriteFilter(doc)
	return bsoncore.Value{Type: bsontype.EmbeddedDocument, Data: out}, changed
}

// rewriteFilter moves the top-level dotted conditions of filter into its $and.
func rewriteFilter(filter bsoncore.Document) (bsoncore.Document, bool) {
	elems, err := filter.Elements()
	if err != nil {
		return filter, false
	}
	var dotted []bsoncore.Element
	var existingAnd []bsoncore.Value
	for _, e := range elems {
		k := e.Key()
		if !strings.HasPrefix(k, "$") && strings.Contains(k, ".") {
			dotted = append(dotted, e)
		}
	}
	if len(dotted) == 0 {
		return filter, false
	}
	idx, dst := bsoncore.AppendDocumentStart(nil)
	for _, e := range elems {
		k := e.Key()
		switch {
		case k == "$and":
			arr, ok := e.Value().ArrayOK()
			if !ok {
				return filter, false // malformed: let the server say so
			}
			vals, err := arr.Values()
			if err != nil {
				return filter, false
			}
			existingAnd = vals
		case !strings.HasPrefix(k, "$") && strings.Contains(k, "."):
		default:
			dst = append(dst, e...)
		}
	}
	aidx, dst := bsoncore.AppendArrayElementStart(dst, "$and")
	n := 0
	for _, v := range existingAnd {
		dst = bsoncore.AppendValueElement(dst, strconv.Itoa(n), v)
		n++
	}
	for _, e := range dotted {
		var didx int32
		didx, dst = bsoncore.AppendDocumentElementStart(dst, strconv.Itoa(n))
		dst = append(dst, e...)
		dst, _ = bsoncore.AppendDocumentEnd(dst, didx)
		n++
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst, true
}

// replaceField returns doc with the value of key replaced by fn's answer.
func replaceField(doc bsoncore.Document, key string, fn func(bsoncore.Value) (bsoncore.Value, bool)) (bsoncore.Document, bool) {
	elems, err := doc.Elements()
	if err != nil {
		return doc, false
	}
	changed := false
	idx, dst := bsoncore.AppendDocumentStart(nil)
	for _, e := range elems {
		if e.Key() == key {
			if v, c := fn(e.Value()); c {
				dst = bsoncore.AppendValueElement(dst, key, v)
				changed = true
				continue
			}
		}
		dst = append(dst, e...)
	}
	if !changed {
		return doc, false
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst, true
}

// mapArray applies fn to every document of an array value.
func mapArray(v bsoncore.Value, fn func(bsoncore.Document) (bsoncore.Document, bool)) (bsoncore.Value, bool) {
	return mapArrayN(v, fn, -1)
}

// mapArrayFirst applies fn to the first element of an array value only.
func mapArrayFirst(v bsoncore.Value, fn func(bsoncore.Document) (bsoncore.Document, bool)) (bsoncore.Value, bool) {
	return mapArrayN(v, fn, 1)
}

func mapArrayN(v bsoncore.Value, fn func(bsoncore.Document) (bsoncore.Document, bool), limit int) (bsoncore.Value, bool) {
	arr, ok := v.ArrayOK()
	if !ok {
		return v, false
	}
	vals, err := arr.Values()
	if err != nil {
		return v, false
	}
	changed := false
	aidx, dst := bsoncore.AppendArrayStart(nil)
	for i, item := range vals {
		if doc, ok := item.DocumentOK(); ok && (limit < 0 || i < limit) {
			if out, c := fn(doc); c {
				item = bsoncore.Value{Type: bsontype.EmbeddedDocument, Data: out}
				changed = true
			}
		}
		dst = bsoncore.AppendValueElement(dst, strconv.Itoa(i), item)
	}
	if !changed {
		return v, false
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	return bsoncore.Value{Type: bsontype.Array, Data: dst}, true
}
