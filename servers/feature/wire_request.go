package feature

import (
	"errors"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/servers"
)

// A Retrieve of 100 keys in compact form (key_values) is 100 strings;
// proto.Unmarshal allocates each of them and walks the message by
// reflection: 113 allocations a request (BenchmarkUnmarshalRetrieveRequest).
// unmarshalRetrieveRequest reads the same message by hand in 7 allocations and
// about 60 % of the time, and its key values share the request's bytes (the
// codec's copy of gRPC's buffers) instead of a string each.
// TestUnmarshalRetrieveRequest and FuzzUnmarshalRetrieveRequest hold it to
// proto.Unmarshal.
func init() {
	servers.RegisterUnmarshal((*featurev1.RetrieveRequest)(nil), func(b []byte, m any) error {
		return unmarshalRetrieveRequest(b, m.(*featurev1.RetrieveRequest))
	})
	servers.RegisterUnmarshal((*retrieveCall)(nil), func(b []byte, m any) error {
		return unmarshalRetrieveRequest(b, &m.(*retrieveCall).req)
	})
}

// The field numbers of RetrieveRequest (proto/ofs/feature/v1/service.proto).
const (
	reqEntity      protowire.Number = 1
	reqKeys        protowire.Number = 2
	reqGroups      protowire.Number = 3
	reqTypedValues protowire.Number = 4
	reqKeyValues   protowire.Number = 5
	reqCompact     protowire.Number = 6
	reqColumnsRev  protowire.Number = 7
)

var errBadRequestWire = errors.New("feature: RetrieveRequest: invalid protobuf wire format")

// unmarshalRetrieveRequest decodes b into m, which it resets first. As
// proto.Unmarshal does, it takes the last occurrence of a scalar field,
// treats a known field of the wrong wire type as unknown, and refuses a
// string that is not UTF-8; unlike it, it drops unknown fields instead of
// keeping them (a server never sends a request on). The entity and the
// groups are copied (metric labels and logs may keep them); the key values
// point into b, which must not change afterwards.
//
// A pooled request (retrieveCall) keeps the capacity of its KeyValues from
// one call to the next; every other message arrives new.
func unmarshalRetrieveRequest(b []byte, m *featurev1.RetrieveRequest) error {
	kept := m.KeyValues[:0]
	proto.Reset(m)
	keyValues := 0
	for rest := b; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 || num > protowire.MaxValidNumber { // ConsumeTag checks only the lower bound
			return errBadRequestWire
		}
		rest = rest[n:]
		if num == reqKeyValues && typ == protowire.BytesType {
			keyValues++
		}
		if n = protowire.ConsumeFieldValue(num, typ, rest); n < 0 {
			return errBadRequestWire
		}
		rest = rest[n:]
	}
	switch {
	case keyValues > 0 && cap(kept) >= keyValues:
		m.KeyValues = kept
	case keyValues > 0:
		m.KeyValues = make([]string, 0, keyValues)
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:] // the first pass checked every tag and value
		if typ == protowire.VarintType && (num == reqTypedValues || num == reqCompact || num == reqColumnsRev) {
			v, n := protowire.ConsumeVarint(b)
			switch num {
			case reqTypedValues:
				m.TypedValues = v != 0
			case reqCompact:
				m.Compact = v != 0
			default:
				m.ColumnsRevision = v
			}
			b = b[n:]
			continue
		}
		if typ != protowire.BytesType {
			b = b[protowire.ConsumeFieldValue(num, typ, b):]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		b = b[n:]
		switch num {
		case reqKeyValues:
			if !utf8.Valid(v) {
				return errNotUTF8
			}
			m.KeyValues = append(m.KeyValues, sharedString(v))
		case reqEntity:
			if !utf8.Valid(v) {
				return errNotUTF8
			}
			m.Entity = string(v)
		case reqGroups:
			g := &featurev1.GroupSelection{}
			if err := proto.Unmarshal(v, g); err != nil {
				return err
			}
			m.Groups = append(m.Groups, g)
		case reqKeys:
			k := &featurev1.EntityKey{}
			if err := proto.Unmarshal(v, k); err != nil {
				return err
			}
			m.Keys = append(m.Keys, k)
		}
	}
	return nil
}

// sharedString is v as a string without a copy: v must never change.
func sharedString(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(v), len(v))
}
