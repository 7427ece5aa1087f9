package events

import (
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ofstack/ofs/schema"
)

// The protobuf form is read straight from the wire (protowire), without
// building a FeatureEvent: names are looked up from the message's bytes and
// values go into the builder, so a row of numbers decodes without
// allocating. The field numbers are those of proto/ofs/feature/v1/event.proto.
// As protobuf requires, unknown fields are skipped and of a repeated scalar
// field the last occurrence counts.
const (
	fieldEntity        protowire.Number = 1
	fieldKeys          protowire.Number = 2
	fieldGroup         protowire.Number = 3
	fieldEventTime     protowire.Number = 4
	fieldValues        protowire.Number = 5
	fieldSchemaVersion protowire.Number = 6
	fieldPositional    protowire.Number = 7

	// Value's oneof.
	valueBool       protowire.Number = 1
	valueInt64      protowire.Number = 2
	valueUint64     protowire.Number = 3
	valueFloat      protowire.Number = 4
	valueDouble     protowire.Number = 5
	valueString     protowire.Number = 6
	valueBoolList   protowire.Number = 7
	valueInt64List  protowire.Number = 8
	valueUint64List protowire.Number = 9
	valueFloatList  protowire.Number = 10
	valueDoubleList protowire.Number = 11
	valueStringList protowire.Number = 12
)

func badProto(format string, args ...any) *Error { return reject(CodeBadProtobuf, format, args...) }

// field is one field of a message on the wire.
type field struct {
	num  protowire.Number
	typ  protowire.Type
	v    uint64 // a varint or fixed value
	data []byte // a length-delimited value
}

// next consumes one field from b, or reports b malformed. what names the
// message for the reason.
func next(b []byte, what string) (field, []byte, *Error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return field{}, nil, badProto("%s: bad field tag: %v", what, protowire.ParseError(n))
	}
	b = b[n:]
	f := field{num: num, typ: typ}
	switch typ {
	case protowire.VarintType:
		f.v, n = protowire.ConsumeVarint(b)
	case protowire.Fixed32Type:
		var v uint32
		v, n = protowire.ConsumeFixed32(b)
		f.v = uint64(v)
	case protowire.Fixed64Type:
		f.v, n = protowire.ConsumeFixed64(b)
	case protowire.BytesType:
		f.data, n = protowire.ConsumeBytes(b)
	default:
		n = protowire.ConsumeFieldValue(num, typ, b)
	}
	if n < 0 {
		return field{}, nil, badProto("%s: field %d: %v", what, num, protowire.ParseError(n))
	}
	return f, b[n:], nil
}

func wantType(f field, typ protowire.Type, what string) *Error {
	if f.typ != typ {
		return badProto("%s: field %d has wire type %d, want %d", what, f.num, f.typ, typ)
	}
	return nil
}

// protoEvent is where the parts of a protobuf event are, found by one pass
// over it: slices of the message, reused from event to event.
type protoEvent struct {
	keys, values, positional [][]byte
}

// scanProto reads the names, time and version of an event, checks the wire
// format of its top level, and notes where its keys and values are.
func scanProto(b []byte, h *header, pe *protoEvent) *Error {
	pe.keys, pe.values, pe.positional = pe.keys[:0], pe.values[:0], pe.positional[:0]
	for len(b) > 0 {
		var f field
		// The common case first: a length-delimited field of a one-byte tag
		// and a length below 128.
		if t := b[0]; t < 0x80 && t&7 == byte(protowire.BytesType) && len(b) >= 2 && b[1] < 0x80 {
			n := int(b[1])
			if 2+n > len(b) {
				return badProto("FeatureEvent: field %d: %v", t>>3, protowire.ParseError(-1))
			}
			f = field{num: protowire.Number(t >> 3), typ: protowire.BytesType, data: b[2 : 2+n]}
			b = b[2+n:]
		} else {
			var rest []byte
			var err *Error
			if f, rest, err = next(b, "FeatureEvent"); err != nil {
				return err
			}
			b = rest
		}
		switch f.num {
		case fieldEntity, fieldGroup, fieldKeys, fieldEventTime, fieldValues, fieldPositional:
			if err := wantType(f, protowire.BytesType, "FeatureEvent"); err != nil {
				return err
			}
		case fieldSchemaVersion:
			if err := wantType(f, protowire.VarintType, "FeatureEvent"); err != nil {
				return err
			}
		}
		switch f.num {
		case fieldEntity:
			h.entity = f.data
		case fieldGroup:
			h.group = f.data
		case fieldKeys:
			pe.keys = append(pe.keys, f.data)
		case fieldEventTime:
			t, err := protoTimestamp(f.data)
			if err != nil {
				return err
			}
			h.timeSet, h.eventTime = true, t
		case fieldValues:
			h.hasValues = true
			pe.values = append(pe.values, f.data)
		case fieldPositional:
			h.hasPositional = true
			pe.positional = append(pe.positional, f.data)
		case fieldSchemaVersion:
			if f.v > math.MaxUint32 {
				return badProto("schema_version %d does not fit uint32", f.v)
			}
			h.version = uint32(f.v)
		}
	}
	return nil
}

// protoTimestamp reads a google.protobuf.Timestamp as µs.
func protoTimestamp(b []byte) (int64, *Error) {
	var sec, nanos uint64
	for len(b) > 0 {
		f, rest, err := next(b, "event_time")
		if err != nil {
			return 0, err
		}
		b = rest
		switch f.num {
		case 1:
			if err := wantType(f, protowire.VarintType, "event_time"); err != nil {
				return 0, err
			}
			sec = f.v
		case 2:
			if err := wantType(f, protowire.VarintType, "event_time"); err != nil {
				return 0, err
			}
			nanos = f.v
		}
	}
	if int64(nanos) != int64(int32(nanos)) {
		return 0, reject(CodeBadEventTime, "event_time nanos %d does not fit int32", int64(nanos))
	}
	return micros(int64(sec), int32(nanos))
}

// mapEntry reads a map entry: its key (field 1) and value (field 2).
func mapEntry(b []byte, what string) (key, value []byte, rej *Error) {
	// The common case first: key then value, each shorter than 128 bytes.
	if len(b) >= 4 && b[0] == 0x0a && b[1] < 0x80 {
		n := int(b[1])
		if 4+n <= len(b) && b[2+n] == 0x12 && b[3+n] < 0x80 && 4+n+int(b[3+n]) == len(b) {
			return b[2 : 2+n], b[4+n:], nil
		}
	}
	for len(b) > 0 {
		f, rest, err := next(b, what)
		if err != nil {
			return nil, nil, err
		}
		b = rest
		if f.num == 1 || f.num == 2 {
			if err := wantType(f, protowire.BytesType, what); err != nil {
				return nil, nil, err
			}
			if f.num == 1 {
				key = f.data
			} else {
				value = f.data
			}
		}
	}
	return key, value, nil
}

// value reads a Value: the field of its oneof that is set (the last one on
// the wire).
func value(b []byte, what func() string) (field, *Error) {
	// The common cases first: one float, one double.
	switch {
	case len(b) == 5 && b[0] == byte(valueFloat)<<3|byte(protowire.Fixed32Type):
		return field{num: valueFloat, typ: protowire.Fixed32Type,
			v: uint64(uint32(b[1]) | uint32(b[2])<<8 | uint32(b[3])<<16 | uint32(b[4])<<24)}, nil
	case len(b) == 9 && b[0] == byte(valueDouble)<<3|byte(protowire.Fixed64Type):
		v, _ := protowire.ConsumeFixed64(b[1:])
		return field{num: valueDouble, typ: protowire.Fixed64Type, v: v}, nil
	}
	var out field
	for len(b) > 0 {
		f, rest, err := next(b, "Value")
		if err != nil {
			err.Reason = what() + ": " + err.Reason
			return field{}, err
		}
		b = rest
		want := protowire.BytesType
		switch f.num {
		case valueBool, valueInt64, valueUint64:
			want = protowire.VarintType
		case valueFloat:
			want = protowire.Fixed32Type
		case valueDouble:
			want = protowire.Fixed64Type
		case valueString, valueBoolList, valueInt64List, valueUint64List, valueFloatList, valueDoubleList, valueStringList:
		default:
			continue // an unknown field
		}
		if f.typ != want {
			return field{}, badProto("%s: Value field %d has wire type %d, want %d", what(), f.num, f.typ, want)
		}
		out = f
	}
	if out.num == 0 {
		return field{}, reject(CodeBadValue, "%s: the Value is empty; leave a feature out to write its default", what())
	}
	return out, nil
}

// protoKeys reads the key values into set, in key-column order.
func (d *Decoder) protoKeys(e *schema.Entity, entries [][]byte, set []string) *Error {
	for _, raw := range entries {
		name, raw, err := mapEntry(raw, "keys entry")
		if err != nil {
			return err
		}
		i, err := keyIndex(e, name, set)
		if err != nil {
			return err
		}
		col := e.Keys[i]
		v, err := value(raw, func() string { return "key " + strconv.Quote(col.Name) })
		if err != nil {
			return err
		}
		s, err := protoKey(col, v)
		if err != nil {
			return err
		}
		set[i] = s
	}
	return checkKeysComplete(e, set)
}

// protoKey returns the canonical text of a key value.
func protoKey(col schema.KeyColumn, v field) (string, *Error) {
	if col.Type == schema.String {
		if v.num != valueString {
			return "", reject(CodeBadKey, "key %q is a string; got %s", col.Name, protoKind(v.num))
		}
		s := string(v.data)
		return s, checkKeyString(col.Name, s)
	}
	switch v.num {
	case valueInt64:
		return intKey(col, int64(v.v), false, 0)
	case valueUint64:
		return intKey(col, 0, true, v.v)
	case valueString:
		return decimalKey(col, string(v.data))
	}
	return "", reject(CodeBadKey, "key %q is %v; got %s", col.Name, col.Type, protoKind(v.num))
}

func protoKind(n protowire.Number) string {
	switch n {
	case valueBool:
		return "a bool"
	case valueInt64:
		return "an int64"
	case valueUint64:
		return "a uint64"
	case valueFloat:
		return "a float"
	case valueDouble:
		return "a double"
	case valueString:
		return "a string"
	}
	return "a vector"
}

// intKey returns the canonical text of an integer key, range-checked.
func intKey(col schema.KeyColumn, i int64, unsigned bool, u uint64) (string, *Error) {
	lo, hi := col.Type.IntRange()
	switch {
	case unsigned && u <= hi:
		return strconv.FormatUint(u, 10), nil
	case unsigned:
		return "", reject(CodeBadKey, "key %q: %d is out of the range of %v (%d to %d)", col.Name, u, col.Type, lo, hi)
	case i >= lo && (i < 0 || uint64(i) <= hi):
		return strconv.FormatInt(i, 10), nil
	}
	return "", reject(CodeBadKey, "key %q: %d is out of the range of %v (%d to %d)", col.Name, i, col.Type, lo, hi)
}

// decimalKey reads an integer key given as decimal text.
func decimalKey(col schema.KeyColumn, s string) (string, *Error) {
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return intKey(col, 0, true, u)
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return intKey(col, i, false, 0)
	}
	return "", reject(CodeBadKey, "key %q is %v; got %q, not a decimal integer", col.Name, col.Type, clip(s))
}

// protoValues sets the features of the values map.
func (d *Decoder) protoValues(t *target, g *schema.FeatureGroup, entries [][]byte) *Error {
	for _, raw := range entries {
		name, raw, err := mapEntry(raw, "values entry")
		if err != nil {
			return err
		}
		i, err := t.column(g, name)
		if err != nil {
			return err
		}
		v, err := value(raw, func() string { return "feature " + strconv.Quote(t.cols[i].Name) })
		if err != nil {
			return err
		}
		if err := d.setProto(t, i, v); err != nil {
			return err
		}
	}
	return nil
}

// protoPositional sets the features of positional_values, the features of
// version from in order, mapped onto the active version by pos.
func (d *Decoder) protoPositional(t *target, from *schema.Version, pos []int, values [][]byte) *Error {
	if len(values) != len(pos) {
		return reject(CodeWrongValueCount, "%d positional_values for version %d, which has %d features", len(values), from.Number, len(pos))
	}
	for k, raw := range values {
		name := from.Features[k].Name
		v, err := value(raw, func() string { return "feature " + strconv.Quote(name) })
		if err != nil {
			return err
		}
		if i := pos[k]; i >= 0 {
			t.markSeen(i)
			if err := d.setProto(t, i, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// setProto sets column i from a Value.
func (d *Decoder) setProto(t *target, i int, v field) *Error {
	switch v.num {
	case valueBool:
		return t.setBool(i, v.v != 0)
	case valueInt64:
		return t.setInt(i, int64(v.v))
	case valueUint64:
		return t.setUint(i, v.v)
	case valueFloat:
		return t.setFloat32(i, math.Float32frombits(uint32(v.v)))
	case valueDouble:
		return t.setFloat64(i, math.Float64frombits(v.v))
	case valueString:
		return t.setString(i, string(v.data))
	}
	what := func() string { return "feature " + strconv.Quote(t.cols[i].Name) }
	var err *Error
	switch v.num {
	case valueBoolList:
		d.bools = d.bools[:0]
		err = list(v.data, protowire.VarintType, what, func(x uint64, _ []byte) { d.bools = append(d.bools, x != 0) })
		if err == nil {
			err = t.setBools(i, d.bools)
		}
	case valueInt64List:
		d.i64 = d.i64[:0]
		err = list(v.data, protowire.VarintType, what, func(x uint64, _ []byte) { d.i64 = append(d.i64, int64(x)) })
		if err == nil {
			err = t.setInt64s(i, d.i64, &d.f64)
		}
	case valueUint64List:
		d.u64 = d.u64[:0]
		err = list(v.data, protowire.VarintType, what, func(x uint64, _ []byte) { d.u64 = append(d.u64, x) })
		if err == nil {
			err = t.setUint64s(i, d.u64, &d.f64)
		}
	case valueFloatList:
		d.f32 = d.f32[:0]
		err = list(v.data, protowire.Fixed32Type, what, func(x uint64, _ []byte) {
			d.f32 = append(d.f32, math.Float32frombits(uint32(x)))
		})
		if err == nil {
			err = t.setFloat32s(i, d.f32)
		}
	case valueDoubleList:
		d.f64 = d.f64[:0]
		err = list(v.data, protowire.Fixed64Type, what, func(x uint64, _ []byte) { d.f64 = append(d.f64, math.Float64frombits(x)) })
		if err == nil {
			err = t.setFloat64s(i, d.f64)
		}
	case valueStringList:
		d.strs = d.strs[:0]
		err = list(v.data, protowire.BytesType, what, func(_ uint64, s []byte) { d.strs = append(d.strs, string(s)) })
		if err == nil {
			err = t.setStrings(i, d.strs)
		}
	}
	return err
}

// list reads the elements of a repeated field 1 of element wire type typ,
// packed or not, and calls add for each.
func list(b []byte, typ protowire.Type, what func() string, add func(uint64, []byte)) *Error {
	for len(b) > 0 {
		f, rest, err := next(b, "list")
		if err != nil {
			err.Reason = what() + ": " + err.Reason
			return err
		}
		b = rest
		if f.num != 1 {
			continue
		}
		switch {
		case f.typ == typ:
			add(f.v, f.data)
		case f.typ == protowire.BytesType && typ != protowire.BytesType:
			if err := packed(f.data, typ, add); err != nil {
				return badProto("%s: packed list: %v", what(), err)
			}
		default:
			return badProto("%s: list element has wire type %d, want %d", what(), f.typ, typ)
		}
	}
	return nil
}

// packed reads a packed run of varints or fixed-width values.
func packed(b []byte, typ protowire.Type, add func(uint64, []byte)) error {
	switch typ {
	case protowire.Fixed32Type:
		if len(b)%4 != 0 {
			return protowire.ParseError(-1)
		}
		for ; len(b) >= 4; b = b[4:] {
			add(uint64(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24), nil)
		}
	case protowire.Fixed64Type:
		if len(b)%8 != 0 {
			return protowire.ParseError(-1)
		}
		for ; len(b) >= 8; b = b[8:] {
			v, _ := protowire.ConsumeFixed64(b)
			add(v, nil)
		}
	default:
		for len(b) > 0 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			add(v, nil)
			b = b[n:]
		}
	}
	return nil
}
