package views

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ofstack/ofs/schema"
)

func TestValidName(t *testing.T) {
	for s, ok := range map[string]bool{
		"user": true, "a": true, "a_1": true, strings.Repeat("a", 63): true,
		"": false, "1a": false, "_a": false, "User": false, "a-b": false, "a b": false,
		`a"b`: false, "a;drop": false, "é": false, strings.Repeat("a", 64): false,
	} {
		if got := validName(s, maxName); got != ok {
			t.Errorf("validName(%q) = %v, want %v", s, got, ok)
		}
	}
}

func TestTableName(t *testing.T) {
	if got := tableName("user"); got != "user" {
		t.Errorf("tableName(user) = %q", got)
	}
	long := strings.Repeat("a", 60)
	got := tableName(long)
	if len(got) != maxTableName || !strings.HasPrefix(got, long[:39]+"_") || !validName(got, maxTableName) {
		t.Errorf("tableName(60 × a) = %q", got)
	}
	if other := tableName(strings.Repeat("a", 59) + "b"); other == got {
		t.Errorf("two long names share the table %q", got)
	}
}

func TestKeyValue(t *testing.T) {
	tests := []struct {
		typ  schema.DataType
		in   string
		want any // nil: an error
	}{
		{schema.String, "", ""},
		{schema.String, "a|b{c}", "a|b{c}"},
		{schema.String, "\xff", nil},
		{schema.Int32, "-2147483648", int32(-2147483648)},
		{schema.Int32, "2147483647", int32(2147483647)},
		{schema.Int32, "2147483648", nil},
		{schema.Int32, "+5", nil},
		{schema.Int32, "05", nil},
		{schema.Int32, "-0", nil},
		{schema.Int32, "", nil},
		{schema.Int32, " 5", nil},
		{schema.Int64, "-9223372036854775808", int64(-9223372036854775808)},
		{schema.Int64, "9223372036854775808", nil},
		{schema.Int64, "1e3", nil},
		{schema.Uint32, "4294967295", int64(4294967295)},
		{schema.Uint32, "4294967296", nil},
		{schema.Uint32, "-1", nil},
		{schema.Uint64, "18446744073709551615", int64(-1)},
		{schema.Uint64, "9223372036854775808", int64(-9223372036854775808)},
		{schema.Uint64, "0", int64(0)},
		{schema.Uint64, "18446744073709551616", nil},
		{schema.FP32, "1", nil},
	}
	for _, tc := range tests {
		got, err := keyValue(tc.typ, tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("keyValue(%s, %q) = %v, want an error", tc.typ, tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("keyValue(%s, %q) = %#v, %v; want %#v", tc.typ, tc.in, got, err, tc.want)
		}
	}
}

func TestCQLType(t *testing.T) {
	want := map[schema.DataType]string{
		schema.String: "text", schema.Int32: "int", schema.Int64: "bigint",
		schema.Uint32: "bigint", schema.Uint64: "bigint",
	}
	for _, dt := range schema.DataTypes() {
		got, err := cqlType(dt)
		if w, ok := want[dt]; ok != (err == nil) || got != w {
			t.Errorf("cqlType(%s) = %q, %v; want %q", dt, got, err, w)
		}
	}
}

func TestContactPoints(t *testing.T) {
	tests := []struct {
		in    []string
		hosts []string
		port  int
	}{
		{[]string{"127.0.0.1:19042"}, []string{"127.0.0.1"}, 19042},
		{[]string{"a", "b"}, []string{"a", "b"}, 9042},
		{[]string{"a:9000", "b:9000"}, []string{"a", "b"}, 9000},
		{[]string{"[::1]:19042"}, []string{"::1"}, 19042},
		{[]string{"::1"}, []string{"::1"}, 9042},
		{[]string{"a:1", "b:2"}, nil, 0},
		{[]string{"a:0"}, nil, 0},
		{[]string{"a:x"}, nil, 0},
		{[]string{":9042"}, nil, 0},
		{nil, nil, 0},
	}
	for _, tc := range tests {
		hosts, port, err := contactPoints(tc.in, 9042)
		if tc.hosts == nil {
			if !errors.Is(err, ErrInvalidOption) {
				t.Errorf("contactPoints(%q) = %q, %d, %v; want ErrInvalidOption", tc.in, hosts, port, err)
			}
			continue
		}
		if err != nil || !slices.Equal(hosts, tc.hosts) || port != tc.port {
			t.Errorf("contactPoints(%q) = %q, %d, %v; want %q, %d", tc.in, hosts, port, err, tc.hosts, tc.port)
		}
	}
}

func TestReplicationLiteral(t *testing.T) {
	got, err := replicationLiteral(DefaultScyllaReplication())
	if want := `{'class': 'SimpleStrategy', 'replication_factor': '1'}`; err != nil || got != want {
		t.Errorf("default = %s, %v; want %s", got, err, want)
	}
	got, err = replicationLiteral(map[string]string{"class": "NetworkTopologyStrategy", "d'c": "3"})
	if want := `{'class': 'NetworkTopologyStrategy', 'd''c': '3'}`; err != nil || got != want {
		t.Errorf("quoted = %s, %v; want %s", got, err, want)
	}
	if _, err := replicationLiteral(map[string]string{"dc1": "3"}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("no class: %v", err)
	}
}

func TestNewTable(t *testing.T) {
	tb, err := newTable("ks", Table{Entity: "pair", Keys: []KeyColumn{{"id", schema.Int64}, {"name", schema.String}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"create": `CREATE TABLE IF NOT EXISTS "ks"."pair" ("id" bigint, "name" text, "fg" int, "v" blob, PRIMARY KEY (("id", "name"), "fg")) WITH comment = 'ofs entity pair'`,
		"insert": `INSERT INTO "ks"."pair" ("id","name","fg","v") VALUES (?,?,?,?) USING TTL ? AND TIMESTAMP ? `,
		"query":  `SELECT "fg","v" FROM "ks"."pair" WHERE "id"=? AND "name"=? AND "fg" IN ? `,
	}
	for name, got := range map[string]string{"create": tb.create, "insert": tb.insert, "query": tb.query} {
		if got != want[name] {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want[name])
		}
	}
	// Write binds its values in this order.
	if want := []string{`"id"`, `"name"`, `"fg"`, `"v"`, ttlBind, timestampBind}; !slices.Equal(tb.insertNames, want) {
		t.Errorf("insert binds %q, want %q", tb.insertNames, want)
	}

	bad := []Table{
		{Entity: "", Keys: []KeyColumn{{"id", schema.Int64}}},
		{Entity: `user"; DROP KEYSPACE ofs; --`, Keys: []KeyColumn{{"id", schema.Int64}}},
		{Entity: "user", Keys: []KeyColumn{{`id" text, "x`, schema.Int64}}},
		{Entity: "user"},
		{Entity: "user", Keys: []KeyColumn{{"fg", schema.Int64}}},
		{Entity: "user", Keys: []KeyColumn{{"v", schema.Int64}}},
		{Entity: "user", Keys: []KeyColumn{{"id", schema.Int64}, {"id", schema.String}}},
		{Entity: "user", Keys: []KeyColumn{{"id", schema.FP64}}},
		{Entity: "user", Keys: []KeyColumn{{"id", schema.Invalid}}},
	}
	for _, tb := range bad {
		if _, err := newTable("ks", tb); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("newTable(%+v): %v, want ErrInvalidOption", tb, err)
		}
	}
}

func TestBind(t *testing.T) {
	tables := map[string]*table{}
	for _, def := range suiteTables {
		tb, err := newTable("ks", def)
		if err != nil {
			t.Fatal(err)
		}
		tables[def.Entity] = tb
	}
	tb, args, err := bind(tables, key("acct", "-7", "18446744073709551615", "7"), 2)
	if err != nil || tb.Entity != "acct" || !slices.Equal(args, []any{int32(-7), int64(-1), int64(7)}) || cap(args) != 5 {
		t.Errorf("bind acct = %v (cap %d), %v", args, cap(args), err)
	}
	bad := map[string]struct {
		k    Key
		want error
	}{
		"unknown entity": {key("nobody", "1"), ErrUnknownEntity},
		"too few values": {key("pair", "1"), ErrInvalidKey},
		"too many":       {key("user", "1", "2"), ErrInvalidKey},
		"not a number":   {key("user", "x"), ErrInvalidKey},
		"not canonical":  {key("user", "+1"), ErrInvalidKey},
		"out of range":   {key("acct", "2147483648", "1", "1"), ErrInvalidKey},
		"not UTF-8":      {key("pair", "1", "\xc3"), ErrInvalidKey},
	}
	for name, tc := range bad {
		if _, _, err := bind(tables, tc.k, 0); !errors.Is(err, tc.want) {
			t.Errorf("%s: bind(%s) = %v, want %v", name, tc.k, err, tc.want)
		}
	}
}

func TestScyllaOptions(t *testing.T) {
	bad := map[string][]ScyllaOption{
		"keyspace":    {ScyllaKeyspace("Bad-Name")},
		"long":        {ScyllaKeyspace(strings.Repeat("k", 49))},
		"replication": {ScyllaReplication(map[string]string{})},
		"timeout":     {ScyllaTimeout(0)},
		"concurrency": {ScyllaConcurrency(0)},
		"logger":      {ScyllaLogger(nil)},
	}
	for name, opts := range bad {
		if _, err := OpenScylla([]string{"127.0.0.1:1"}, opts...); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := OpenScylla(nil); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("no contact point: %v, want ErrInvalidOption", err)
	}
}
