package main

import (
	"encoding/binary"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
)

func buildMsg(t *testing.T, body any, seqID string, seq ...any) []byte {
	t.Helper()
	b, err := bson.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 16)
	binary.LittleEndian.PutUint32(msg[12:16], opMsg)
	msg = binary.LittleEndian.AppendUint32(msg, 0)
	msg = append(msg, 0)
	msg = append(msg, b...)
	if seqID != "" {
		sec := make([]byte, 4)
		sec = append(sec, seqID...)
		sec = append(sec, 0)
		for _, d := range seq {
			db, _ := bson.Marshal(d)
			sec = append(sec, db...)
		}
		binary.LittleEndian.PutUint32(sec, uint32(len(sec)))
		msg = append(msg, 1)
		msg = append(msg, sec...)
	}
	binary.LittleEndian.PutUint32(msg[0:4], uint32(len(msg)))
	return msg
}

func body(t *testing.T, msg []byte) bson.D {
	t.Helper()
	var d bson.D
	if err := bson.Unmarshal(msg[21:21+int(binary.LittleEndian.Uint32(msg[21:25]))], &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRewriteMovesDottedKeysIntoAnd(t *testing.T) {
	in := buildMsg(t, bson.D{{"find", "c"}, {"filter", bson.D{{"_id", "x"}, {"participants.id", "p"}, {"$and", bson.A{bson.D{{"a", 1}}}}}}, {"$db", "d"}}, "")
	out := rewriteCommandFilters(in)
	got, _ := bson.MarshalExtJSON(body(t, out), false, false)
	want := `{"find":"c","filter":{"_id":"x","$and":[{"a":1},{"participants.id":"p"}]},"$db":"d"}`
	if string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if int(binary.LittleEndian.Uint32(out[0:4])) != len(out) {
		t.Fatal("bad length")
	}
}

func TestRewriteLeavesPlainFiltersAlone(t *testing.T) {
	in := buildMsg(t, bson.D{{"find", "c"}, {"filter", bson.D{{"_id", "x"}, {"status", bson.D{{"$ne", "ended"}}}}}, {"$db", "d"}}, "")
	if out := rewriteCommandFilters(in); &out[0] != &in[0] {
		t.Fatal("rewrote a filter without dotted keys")
	}
}

func TestRewriteSequenceStatementsButNotUpserts(t *testing.T) {
	in := buildMsg(t, bson.D{{"update", "c"}, {"$db", "d"}}, "updates",
		bson.D{{"q", bson.D{{"a.b", 1}}}, {"u", bson.D{{"$set", bson.D{{"x", 1}}}}}},
		bson.D{{"q", bson.D{{"a.b", 2}}}, {"u", bson.D{{"$set", bson.D{{"x", 1}}}}}, {"upsert", true}},
	)
	out := rewriteCommandFilters(in)
	// the sequence follows the body
	bodyLen := int(binary.LittleEndian.Uint32(out[21:25]))
	seq := out[21+bodyLen+1:]
	rest := seq[4+len("updates")+1:]
	var first, second bson.D
	n := int(binary.LittleEndian.Uint32(rest[0:4]))
	_ = bson.Unmarshal(rest[:n], &first)
	_ = bson.Unmarshal(rest[n:], &second)
	f, _ := bson.MarshalExtJSON(first, false, false)
	s, _ := bson.MarshalExtJSON(second, false, false)
	if string(f) != `{"q":{"$and":[{"a.b":1}]},"u":{"$set":{"x":1}}}` {
		t.Fatalf("first: %s", f)
	}
	if string(s) != `{"q":{"a.b":2},"u":{"$set":{"x":1}},"upsert":true}` {
		t.Fatalf("second: %s", s)
	}
}

func TestRewriteAggregateFirstMatchAndExplain(t *testing.T) {
	in := buildMsg(t, bson.D{{"explain", bson.D{{"aggregate", "c"}, {"pipeline", bson.A{bson.D{{"$match", bson.D{{"a.b", 1}}}}, bson.D{{"$match", bson.D{{"c.d", 1}}}}}}}}, {"$db", "d"}}, "")
	got, _ := bson.MarshalExtJSON(body(t, rewriteCommandFilters(in)), false, false)
	want := `{"explain":{"aggregate":"c","pipeline":[{"$match":{"$and":[{"a.b":1}]}},{"$match":{"c.d":1}}]},"$db":"d"}`
	if string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestByIDStatementsBecomeMultiAndFiltersStay(t *testing.T) {
	in := buildMsg(t, bson.D{{"update", "c"}, {"$db", "d"}}, "updates",
		bson.D{{"q", bson.D{{"_id", "m1"}}}, {"u", bson.D{{"$unset", bson.D{{"x", ""}}}}}},
		bson.D{{"q", bson.D{{"_id", "m2"}}}, {"u", bson.D{{"y", 1}}}},
		bson.D{{"q", bson.D{{"status", "a"}}}, {"u", bson.D{{"$set", bson.D{{"x", 1}}}}}},
	)
	out := rewriteCommandFilters(in)
	bodyLen := int(binary.LittleEndian.Uint32(out[21:25]))
	rest := out[21+bodyLen+1+4+len("updates")+1:]
	var got []string
	for len(rest) > 0 {
		n := int(binary.LittleEndian.Uint32(rest[0:4]))
		var d bson.D
		_ = bson.Unmarshal(rest[:n], &d)
		j, _ := bson.MarshalExtJSON(d, false, false)
		got = append(got, string(j))
		rest = rest[n:]
	}
	want := []string{
		`{"q":{"_id":"m1"},"u":{"$unset":{"x":""}},"multi":true}`,
		`{"q":{"_id":"m2"},"u":{"y":1}}`,
		`{"q":{"status":"a"},"u":{"$set":{"x":1}}}`,
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statement %d: got %s want %s", i, got[i], want[i])
		}
	}
}
