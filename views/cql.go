package views

import (
	"fmt"
	"hash/fnv"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/ofstack/ofs/schema"
)

// Names in CQL. Every identifier that goes into a statement has been checked
// by validName and is double-quoted, so no name can inject CQL or collide
// with a keyword.
const (
	// maxName is the longest entity, key column or keyspace name accepted:
	// the registry's limit on names.
	maxName = 63
	// maxTableName is the longest table (and keyspace) name that Cassandra
	// and ScyllaDB accept.
	maxTableName = 48

	// groupColumn and blockColumn are the clustering column (the feature
	// group id) and the value column (the block) of every entity table.
	groupColumn = "fg"
	blockColumn = "v"

	// maxTTLSeconds is the longest TTL that Cassandra and ScyllaDB accept.
	maxTTLSeconds = 20 * 365 * 24 * 60 * 60
)

// validName reports whether s matches ^[a-z][a-z0-9_]*$ and is at most n
// bytes: a registry name, safe to quote as a CQL identifier.
func validName(s string, n int) bool {
	if s == "" || len(s) > n || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// quote returns a checked name as a quoted CQL identifier.
func quote(name string) string { return `"` + name + `"` }

// tableName is the table of an entity: its name, or, for a name longer than
// a table name may be, its first 39 bytes, '_' and the FNV-1a hash of the
// whole name in 8 hex digits (48 bytes).
func tableName(entity string) string {
	if len(entity) <= maxTableName {
		return entity
	}
	h := fnv.New32a()
	h.Write([]byte(entity)) // a hash.Hash never fails to write
	return fmt.Sprintf("%s_%08x", entity[:maxTableName-9], h.Sum32())
}

// cqlType is the CQL type of a key column of type t. Unsigned integers are
// stored in the signed CQL type of their width: a uint32 in a bigint (every
// value fits), a uint64 in a bigint by reinterpreting its 64 bits (values
// from 2^63 up read as negative in cqlsh).
func cqlType(t schema.DataType) (string, error) {
	switch t {
	case schema.String:
		return "text", nil
	case schema.Int32:
		return "int", nil
	case schema.Int64, schema.Uint32, schema.Uint64:
		return "bigint", nil
	}
	return "", fmt.Errorf("%w: key column type %s: want string, int32, int64, uint32 or uint64", ErrInvalidOption, t)
}

// keyValue converts the canonical text s of a key value of type t to the Go
// value bound to its CQL column (see cqlType). What is canonical is
// schema.CanonicalKeyValue's to say, so that Redis and Scylla keys agree.
func keyValue(t schema.DataType, s string) (any, error) {
	if err := schema.CanonicalKeyValue(t, s); err != nil {
		return nil, err
	}
	switch t {
	case schema.Int32:
		n, _ := strconv.ParseInt(s, 10, 32) // checked above
		return int32(n), nil
	case schema.Int64:
		n, _ := strconv.ParseInt(s, 10, 64)
		return n, nil
	case schema.Uint32, schema.Uint64:
		n, _ := strconv.ParseUint(s, 10, 64)
		return int64(n), nil // bigint; a uint64 keeps its 64 bits, reinterpreted
	}
	return s, nil
}

// contactPoints splits "host:port" contact points into hosts and the one
// port they share (gocql dials every host, the discovered ones too, on a
// single port). A point without a port uses defaultPort.
func contactPoints(points []string, defaultPort int) (hosts []string, port int, err error) {
	if len(points) == 0 {
		return nil, 0, fmt.Errorf("%w: no Scylla contact point", ErrInvalidOption)
	}
	for _, p := range points {
		host, ps, err := net.SplitHostPort(p)
		n := defaultPort
		switch {
		case err != nil:
			// no port: a host name, an IPv4 address or a bare IPv6 address
			host = strings.TrimSuffix(strings.TrimPrefix(p, "["), "]")
		default:
			n, err = strconv.Atoi(ps)
			if err != nil || n < 1 || n > 65535 {
				return nil, 0, fmt.Errorf("%w: Scylla contact point %q: bad port", ErrInvalidOption, p)
			}
		}
		if host == "" {
			return nil, 0, fmt.Errorf("%w: Scylla contact point %q: no host", ErrInvalidOption, p)
		}
		if port != 0 && n != port {
			return nil, 0, fmt.Errorf("%w: Scylla contact points on ports %d and %d: the driver uses one port", ErrInvalidOption, port, n)
		}
		port = n
		hosts = append(hosts, host)
	}
	return hosts, port, nil
}

// replicationLiteral renders a keyspace's replication map as a CQL map
// literal, keys sorted, quotes escaped.
func replicationLiteral(r map[string]string) (string, error) {
	if r["class"] == "" {
		return "", fmt.Errorf("%w: replication without a class", ErrInvalidOption)
	}
	keys := slices.Sorted(maps.Keys(r))
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(cqlString(k))
		b.WriteString(": ")
		b.WriteString(cqlString(r[k]))
	}
	b.WriteByte('}')
	return b.String(), nil
}

// cqlString is s as a CQL string literal.
func cqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
