package views

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/scylladb/gocqlx/v2/qb"
	cqltable "github.com/scylladb/gocqlx/v2/table"

	"github.com/ofstack/ofs/schema"
)

// The statements of an entity's table are built once, when the table is
// checked, with gocqlx's table and qb builders, and run through the
// driver's own Query and Batch with positional values: the driver prepares
// each statement once per node and keeps it in its statement cache, so a
// Read or Write only binds values. See "Decisions" in docs/ARCHITECTURE.md
// for why gocqlx's Queryx is not used to run them.

// The names of the USING TTL and USING TIMESTAMP bind markers of an insert.
const (
	ttlBind       = "ttl"
	timestampBind = "ts"
)

// columnsQuery reads the columns of a table from the schema tables.
var columnsQuery, _ = qb.Select("system_schema.columns").Columns("column_name", "kind", "position", "type").
	Where(qb.Eq("keyspace_name"), qb.Eq("table_name")).ToCql()

// Table is what a Scylla store needs to know of an entity: its name and its
// key columns in order.
type Table struct {
	Entity string
	Keys   []KeyColumn
}

// KeyColumn is one key column of an entity. Its type is String, Int32,
// Int64, Uint32 or Uint64.
type KeyColumn struct {
	Name string
	Type schema.DataType
}

// table is a checked Table with its statements.
type table struct {
	Table
	name   string // CQL table name
	create string
	// insert binds the keys, group, block, TTL and timestamp (its names:
	// the columns quoted, then ttlBind and timestampBind); query binds the
	// keys and the list of groups; queryIn, of a table of one key column,
	// binds a list of key values and the list of groups.
	insert      string
	insertNames []string
	query       string
	queryIn     string
	want        []string
}

// columns describes the columns of a table as "kind position name type",
// sorted; none when the table does not exist.
func (s *Scylla) columns(ctx context.Context, name string) ([]string, error) {
	iter := s.session.Query(columnsQuery, s.keyspace, name).WithContext(ctx).Iter()
	var (
		out            []string
		col, kind, typ string
		pos            int
	)
	for iter.Scan(&col, &kind, &pos, &typ) {
		out = append(out, describeColumn(kind, pos, col, typ))
	}
	if err := iter.Close(); err != nil {
		return nil, s.fail(ctx, "columns of "+s.keyspace+"."+name, err)
	}
	slices.Sort(out)
	return out, nil
}

func describeColumn(kind string, pos int, name, typ string) string {
	return fmt.Sprintf("%s %d %s %s", kind, pos, name, typ)
}

// newTable checks t and builds its statements.
func newTable(keyspace string, t Table) (*table, error) {
	if !validName(t.Entity, maxName) {
		return nil, fmt.Errorf("%w: entity name %q: want ^[a-z][a-z0-9_]*$, at most %d bytes", ErrInvalidOption, t.Entity, maxName)
	}
	if len(t.Keys) == 0 {
		return nil, fmt.Errorf("%w: entity %s has no key column", ErrInvalidOption, t.Entity)
	}
	tb := &table{Table: Table{Entity: t.Entity, Keys: slices.Clone(t.Keys)}, name: tableName(t.Entity)}
	var defs, keys []string
	for i, k := range t.Keys {
		switch {
		case !validName(k.Name, maxName):
			return nil, fmt.Errorf("%w: entity %s: key column name %q: want ^[a-z][a-z0-9_]*$", ErrInvalidOption, t.Entity, k.Name)
		case k.Name == groupColumn || k.Name == blockColumn:
			return nil, fmt.Errorf("%w: entity %s: key column %q: the name of a column of the store", ErrInvalidOption, t.Entity, k.Name)
		case slices.ContainsFunc(t.Keys[:i], func(o KeyColumn) bool { return o.Name == k.Name }):
			return nil, fmt.Errorf("%w: entity %s: key column %q twice", ErrInvalidOption, t.Entity, k.Name)
		}
		typ, err := cqlType(k.Type)
		if err != nil {
			return nil, fmt.Errorf("entity %s: key column %s: %w", t.Entity, k.Name, err)
		}
		defs = append(defs, quote(k.Name)+" "+typ)
		keys = append(keys, quote(k.Name))
		tb.want = append(tb.want, describeColumn("partition_key", i, k.Name, typ))
	}
	tb.want = append(tb.want,
		describeColumn("clustering", 0, groupColumn, "int"),
		describeColumn("regular", -1, blockColumn, "blob"))
	slices.Sort(tb.want)

	qualified := quote(keyspace) + "." + quote(tb.name)
	g, v := quote(groupColumn), quote(blockColumn)
	tb.create = fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s, %s int, %s blob, PRIMARY KEY ((%s), %s)) WITH comment = %s",
		qualified, strings.Join(defs, ", "), g, v, strings.Join(keys, ", "), g, cqlString("ofs entity "+t.Entity))
	meta := cqltable.New(cqltable.Metadata{Name: qualified, Columns: append(slices.Clone(keys), g, v), PartKey: keys, SortKey: []string{g}})
	tb.insert, tb.insertNames = meta.InsertBuilder().TTLNamed(ttlBind).TimestampNamed(timestampBind).ToCql()
	where := make([]qb.Cmp, 0, len(keys)+1)
	for _, k := range keys {
		where = append(where, qb.Eq(k))
	}
	tb.query, _ = qb.Select(meta.Name()).Columns(g, v).Where(append(where, qb.In(g))...).ToCql()
	if len(keys) == 1 {
		tb.queryIn, _ = qb.Select(meta.Name()).Columns(keys[0], g, v).Where(qb.In(keys[0]), qb.In(g)).ToCql()
	}
	return tb, nil
}

// bind returns the table of k's entity and k's values as CQL values, with
// room for extra more.
func bind(tables map[string]*table, k Key, extra int) (*table, []any, error) {
	tb := tables[k.Entity]
	if tb == nil {
		return nil, nil, fmt.Errorf("%w: %s: no table for entity %q (call EnsureTables)", ErrUnknownEntity, k, k.Entity)
	}
	if len(k.Values) != len(tb.Keys) {
		return nil, nil, fmt.Errorf("%w: %s: %d values, entity %s has %d key columns", ErrInvalidKey, k, len(k.Values), k.Entity, len(tb.Keys))
	}
	args := make([]any, len(tb.Keys), len(tb.Keys)+extra)
	for i, c := range tb.Keys {
		v, err := keyValue(c.Type, k.Values[i])
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: key column %s: %w", ErrInvalidKey, k, c.Name, err)
		}
		args[i] = v
	}
	return tb, args, nil
}
