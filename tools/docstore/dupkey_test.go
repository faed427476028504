package main

import (
	"testing"

	"go.mongodb.org/mongo-driver/bson"
)

// reply is an OP_MSG holding only `body`, as FerretDB answers.
func reply(t *testing.T, body any) []byte {
	t.Helper()
	return buildMsg(t, body, "")
}

const pgDup = `ERROR: duplicate key value violates unique constraint "contacts_email_1_idx" (SQLSTATE 23505)`

func TestDuplicateKeyInWriteErrors(t *testing.T) {
	in := reply(t, bson.D{{Key: "n", Value: int32(0)}, {Key: "writeErrors", Value: bson.A{bson.D{{Key: "index", Value: int32(0)}, {Key: "code", Value: int32(1)}, {Key: "errmsg", Value: pgDup}}}}, {Key: "ok", Value: 1.0}})
	got, _ := bson.MarshalExtJSON(body(t, fixDuplicateKeyReply(in)), false, false)
	want := `{"n":0,"writeErrors":[{"index":0,"code":11000,"errmsg":"E11000 duplicate key error: ` + `ERROR: duplicate key value violates unique constraint \"contacts_email_1_idx\" (SQLSTATE 23505)"}],"ok":1.0}`
	if string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestDuplicateKeyTopLevel(t *testing.T) {
	in := reply(t, bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: pgDup}, {Key: "code", Value: int32(1)}, {Key: "codeName", Value: "InternalError"}})
	got, _ := bson.MarshalExtJSON(body(t, fixDuplicateKeyReply(in)), false, false)
	want := `{"ok":0.0,"errmsg":"E11000 duplicate key error: ` + `ERROR: duplicate key value violates unique constraint \"contacts_email_1_idx\" (SQLSTATE 23505)","code":11000,"codeName":"DuplicateKey"}`
	if string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestOtherErrorsUntouched(t *testing.T) {
	in := reply(t, bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "something else"}, {Key: "code", Value: int32(1)}})
	if out := fixDuplicateKeyReply(in); &out[0] != &in[0] {
		t.Fatal("rewrote an unrelated error")
	}
}
