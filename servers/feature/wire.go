package feature

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/servers"
)

// A Retrieve answer of 100 keys holds 100 Row messages and a matrix of
// 20 KB; proto.Marshal walks them by reflection, which was about 8% of a
// server's CPU per request from the L1. appendRetrieveResponse writes the
// same bytes by hand: every server of servers.NewGRPC marshals answers
// with it, into buffers gRPC hands back after writing them.
// TestAppendRetrieveResponse holds it to proto.Marshal, field by field.
func init() {
	servers.RegisterAppend((*featurev1.RetrieveResponse)(nil), func(dst []byte, m any) ([]byte, error) {
		resp := m.(*featurev1.RetrieveResponse)
		dst, err := appendRetrieveResponse(dst, resp)
		giveBack(resp) // its bytes are in dst now (answerpool.go)
		return dst, err
	})
}

// errNotUTF8 is proto.Marshal's refusal of a string field that is not
// valid UTF-8, which proto3 requires.
var errNotUTF8 = errors.New("feature: string field contains invalid UTF-8")

// The field numbers of the messages appendRetrieveResponse writes
// (proto/ofs/feature/v1/service.proto).
const (
	respColumns  protowire.Number = 1
	respMatrices protowire.Number = 2
	respRows     protowire.Number = 3
	respRevision protowire.Number = 4
	respFound    protowire.Number = 5
	respStrings  protowire.Number = 6

	colGroup        protowire.Number = 1
	colName         protowire.Number = 2
	colType         protowire.Number = 3
	colVectorLength protowire.Number = 4
	colMatrix       protowire.Number = 5
	colOffset       protowire.Number = 6

	matType  protowire.Number = 1
	matWidth protowire.Number = 2
	matData  protowire.Number = 3

	rowFound   protowire.Number = 1
	rowStrings protowire.Number = 2
	rowValues  protowire.Number = 3
)

// appendRetrieveResponse appends the wire form of m to dst, as proto.Marshal
// writes it: fields in number order, zero scalars left out, repeated bools
// packed. A message with unknown fields (never one the server builds) is
// marshalled by proto itself.
func appendRetrieveResponse(dst []byte, m *featurev1.RetrieveResponse) ([]byte, error) {
	if len(m.ProtoReflect().GetUnknown()) > 0 {
		return proto.MarshalOptions{}.MarshalAppend(dst, m)
	}
	var err error
	for _, c := range m.GetColumns() {
		if dst, err = appendColumn(dst, c); err != nil {
			return dst, err
		}
	}
	for _, x := range m.GetMatrices() {
		if dst, err = appendMatrix(dst, x); err != nil {
			return dst, err
		}
	}
	for _, r := range m.GetRows() {
		if dst, err = appendRow(dst, r); err != nil {
			return dst, err
		}
	}
	if v := m.GetRegistryRevision(); v != 0 {
		dst = appendTag(dst, respRevision, protowire.VarintType)
		dst = appendVarint(dst, v)
	}
	dst = appendBools(dst, respFound, m.GetFound())
	return appendStrings(dst, respStrings, m.GetStrings())
}

// appendBools appends the packed repeated bool field n; nothing when empty.
func appendBools(dst []byte, n protowire.Number, bs []bool) []byte {
	if len(bs) == 0 {
		return dst
	}
	dst = appendTag(dst, n, protowire.BytesType)
	dst = appendVarint(dst, uint64(len(bs))) // a packed bool is one byte
	for _, b := range bs {
		dst = append(dst, b2byte(b))
	}
	return dst
}

// appendStrings appends the repeated string field n, one record per string:
// an empty string of a repeated field is written, unlike a scalar's.
func appendStrings(dst []byte, n protowire.Number, ss []string) ([]byte, error) {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return dst, errNotUTF8
		}
		dst = append(appendVarint(appendTag(dst, n, protowire.BytesType), uint64(len(s))), s...)
	}
	return dst, nil
}

// appendSub appends the embedded message msg of field n whose wire form,
// of size bytes, body appends.
func appendSub(dst []byte, n protowire.Number, size int, body func([]byte) ([]byte, error)) ([]byte, error) {
	dst = appendTag(dst, n, protowire.BytesType)
	dst = appendVarint(dst, uint64(size))
	start := len(dst)
	dst, err := body(dst)
	if err == nil && len(dst)-start != size {
		err = fmt.Errorf("feature: wire size of field %d: wrote %d bytes, computed %d", n, len(dst)-start, size)
	}
	return dst, err
}

func varintField(n protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(n) + protowire.SizeVarint(v)
}

func bytesField(n protowire.Number, l int) int {
	if l == 0 {
		return 0
	}
	return protowire.SizeTag(n) + protowire.SizeBytes(l)
}

func appendVarintField(dst []byte, n protowire.Number, v uint64) []byte {
	if v == 0 {
		return dst
	}
	return appendVarint(appendTag(dst, n, protowire.VarintType), v)
}

// appendVarint is protowire.AppendVarint with the one-byte case inlined:
// most lengths, widths and offsets of an answer are below 128.
func appendVarint(dst []byte, v uint64) []byte {
	if v < 0x80 {
		return append(dst, byte(v))
	}
	return protowire.AppendVarint(dst, v)
}

// appendTag is protowire.AppendTag through appendVarint: the tags of these
// messages' fields (numbers below 16) are one byte.
func appendTag(dst []byte, n protowire.Number, t protowire.Type) []byte {
	return appendVarint(dst, uint64(n)<<3|uint64(t))
}

func appendStringField(dst []byte, n protowire.Number, s string) ([]byte, error) {
	if s == "" {
		return dst, nil
	}
	if !utf8.ValidString(s) {
		return dst, errNotUTF8
	}
	return append(appendVarint(appendTag(dst, n, protowire.BytesType), uint64(len(s))), s...), nil
}

func appendColumn(dst []byte, c *featurev1.Column) ([]byte, error) {
	if len(c.ProtoReflect().GetUnknown()) > 0 {
		return appendMarshalled(dst, respColumns, c)
	}
	// int32 and enum fields are varints of their sign-extended 64 bits.
	typ, matrix := uint64(int64(c.GetType())), uint64(int64(c.GetMatrix()))
	size := bytesField(colGroup, len(c.GetFeatureGroup())) + bytesField(colName, len(c.GetName())) +
		varintField(colType, typ) + varintField(colVectorLength, uint64(c.GetVectorLength())) +
		varintField(colMatrix, matrix) + varintField(colOffset, uint64(c.GetOffset()))
	return appendSub(dst, respColumns, size, func(b []byte) ([]byte, error) {
		b, err := appendStringField(b, colGroup, c.GetFeatureGroup())
		if err != nil {
			return b, err
		}
		if b, err = appendStringField(b, colName, c.GetName()); err != nil {
			return b, err
		}
		b = appendVarintField(b, colType, typ)
		b = appendVarintField(b, colVectorLength, uint64(c.GetVectorLength()))
		b = appendVarintField(b, colMatrix, matrix)
		return appendVarintField(b, colOffset, uint64(c.GetOffset())), nil
	})
}

func appendMatrix(dst []byte, x *featurev1.DenseMatrix) ([]byte, error) {
	if len(x.ProtoReflect().GetUnknown()) > 0 {
		return appendMarshalled(dst, respMatrices, x)
	}
	typ := uint64(int64(x.GetType()))
	size := varintField(matType, typ) + varintField(matWidth, uint64(x.GetWidth())) + bytesField(matData, len(x.GetData()))
	return appendSub(dst, respMatrices, size, func(b []byte) ([]byte, error) {
		b = appendVarintField(b, matType, typ)
		b = appendVarintField(b, matWidth, uint64(x.GetWidth()))
		if d := x.GetData(); len(d) > 0 {
			b = append(appendVarint(appendTag(b, matData, protowire.BytesType), uint64(len(d))), d...)
		}
		return b, nil
	})
}

func appendRow(dst []byte, r *featurev1.Row) ([]byte, error) {
	if len(r.ProtoReflect().GetUnknown()) > 0 {
		return appendMarshalled(dst, respRows, r)
	}
	found, strs, values := r.GetFound(), r.GetStrings(), r.GetValues()
	size := bytesField(rowFound, len(found)) // a packed bool is one byte
	for _, s := range strs {
		size += protowire.SizeTag(rowStrings) + protowire.SizeBytes(len(s))
	}
	for _, v := range values {
		size += protowire.SizeTag(rowValues) + protowire.SizeBytes(proto.Size(v))
	}
	return appendSub(dst, respRows, size, func(b []byte) ([]byte, error) {
		b = appendBools(b, rowFound, found)
		b, err := appendStrings(b, rowStrings, strs)
		if err != nil {
			return b, err
		}
		for _, v := range values {
			if b, err = appendMarshalled(b, rowValues, v); err != nil {
				return b, err
			}
		}
		return b, nil
	})
}

// appendMarshalled appends field n holding m as proto.Marshal writes it.
func appendMarshalled(dst []byte, n protowire.Number, m proto.Message) ([]byte, error) {
	dst = appendTag(dst, n, protowire.BytesType)
	dst = appendVarint(dst, uint64(proto.Size(m)))
	return proto.MarshalOptions{}.MarshalAppend(dst, m)
}

func b2byte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
