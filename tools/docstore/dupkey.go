package main

import (
	"bytes"
	"encoding/binary"
	"strings"

	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// FerretDB 1.24 answers an update that breaks a unique index (update, findAndModify, the
// updates of a bulk write) with InternalError (code 1) and PostgreSQL's text
// "duplicate key value violates unique constraint … (SQLSTATE 23505)"; only inserts get
// MongoDB's DuplicateKey (11000). Applications, the hub among them, recognise a duplicate by
// code 11000, as MongoDB documents it, so the write gate rewrites such errors in replies: the
// code becomes 11000 and codeName DuplicateKey; the message keeps PostgreSQL's text after
// MongoDB's "E11000 duplicate key error" prefix.

var uniqueViolation = []byte("SQLSTATE 23505")

// fixDuplicateKeyReply returns msg with every unique-violation error answered as MongoDB does.
func fixDuplicateKeyReply(msg []byte) []byte {
	if !bytes.Contains(msg, uniqueViolation) || len(msg) < 21 || int32(binary.LittleEndian.Uint32(msg[12:16])) != opMsg {
		return msg
	}
	flags := binary.LittleEndian.Uint32(msg[16:20])
	end := len(msg)
	if flags&flagChecksum != 0 {
		end -= 4
	}
	if msg[20] != 0 || end < 25 {
		return msg
	}
	size := int(binary.LittleEndian.Uint32(msg[21:25]))
	if size < 5 || 21+size > end {
		return msg
	}
	body := bsoncore.Document(msg[21 : 21+size])
	out, changed := fixErrorDoc(body)
	if fixed, c := replaceField(out, "writeErrors", func(v bsoncore.Value) (bsoncore.Value, bool) {
		return mapArray(v, fixErrorDoc)
	}); c {
		out, changed = fixed, true
	}
	if !changed {
		return msg
	}
	res := make([]byte, 0, len(msg)+64)
	res = append(res, msg[:16]...)
	res = binary.LittleEndian.AppendUint32(res, flags&^flagChecksum)
	res = append(res, 0)
	res = append(res, out...)
	res = append(res, msg[21+size:end]...) // any further sections
	binary.LittleEndian.PutUint32(res[0:4], uint32(len(res)))
	return res
}

// fixErrorDoc rewrites one error document ({code, codeName, errmsg}) if it is a unique violation.
func fixErrorDoc(doc bsoncore.Document) (bsoncore.Document, bool) {
	errmsg, ok := doc.Lookup("errmsg").StringValueOK()
	if !ok || !strings.Contains(errmsg, string(uniqueViolation)) {
		return doc, false
	}
	code := doc.Lookup("code")
	if n, ok := code.AsInt64OK(); !ok || n != 1 {
		return doc, false
	}
	elems, err := doc.Elements()
	if err != nil {
		return doc, false
	}
	idx, dst := bsoncore.AppendDocumentStart(nil)
	sawName := false
	for _, e := range elems {
		switch e.Key() {
		case "code":
			dst = bsoncore.AppendInt32Element(dst, "code", 11000)
		case "codeName":
			dst = bsoncore.AppendStringElement(dst, "codeName", "DuplicateKey")
			sawName = true
		case "errmsg":
			dst = bsoncore.AppendStringElement(dst, "errmsg", "E11000 duplicate key error: "+errmsg)
		default:
			dst = append(dst, e...)
		}
	}
	if !sawName && doc.Lookup("ok").Type != bsontype.Type(0) {
		dst = bsoncore.AppendStringElement(dst, "codeName", "DuplicateKey")
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst, true
}
