package servers

import (
	"reflect"
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// An AppendFunc appends the protobuf wire form of m to dst: the bytes
// proto.Marshal gives, written without reflection for a message that a
// server answers often and that is costly to marshal (a Retrieve answer of
// many rows).
type AppendFunc func(dst []byte, m any) ([]byte, error)

// appenders holds the AppendFuncs by message type; RegisterAppend fills it
// from init functions only, so that reads need no lock.
var appenders = map[reflect.Type]AppendFunc{}

// RegisterAppend makes every server of NewGRPC marshal messages of m's type
// (a pointer to a generated message) with f. Call it from an init function;
// the package's tests must show that f writes what proto.Marshal does.
func RegisterAppend(m any, f AppendFunc) { register(appenders, m, f, "RegisterAppend") }

// An UnmarshalFunc decodes the protobuf wire form b into m (a pointer to a
// generated message, reset), as proto.Unmarshal would but without
// reflection, for a request a server takes often and that is costly to
// decode (a Retrieve of many keys). b is the function's to keep: a gRPC
// buffer is copied into it, so strings of m may share b's memory.
type UnmarshalFunc func(b []byte, m any) error

// unmarshalers holds the UnmarshalFuncs by message type, filled like
// appenders.
var unmarshalers = map[reflect.Type]UnmarshalFunc{}

// RegisterUnmarshal makes every server of NewGRPC decode messages of m's
// type with f. Call it from an init function; the package's tests must
// show that f reads what proto.Unmarshal does.
func RegisterUnmarshal(m any, f UnmarshalFunc) { register(unmarshalers, m, f, "RegisterUnmarshal") }

// register puts f in table under m's type; a second f for a type is a bug.
func register[F any](table map[reflect.Type]F, m any, f F, caller string) {
	t := reflect.TypeOf(m)
	if _, dup := table[t]; dup {
		panic("servers: " + caller + " called twice for " + t.String())
	}
	table[t] = f
}

// serverCodec is the proto codec with the registered AppendFuncs and
// UnmarshalFuncs. Appended answers go to buffers of its own pool, which
// gRPC hands back when it has written them, so the buffer of a large answer
// is not allocated per call.
type serverCodec struct {
	base encoding.CodecV2
}

func newServerCodec() serverCodec { return serverCodec{base: encoding.GetCodecV2(proto.Name)} }

func (c serverCodec) Name() string { return c.base.Name() }

func (c serverCodec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := appenders[reflect.TypeOf(v)]
	if !ok {
		return c.base.Marshal(v)
	}
	buf := answerPool.Get(0)
	out, err := f((*buf)[:0], v)
	if err != nil {
		answerPool.Put(buf)
		return nil, err
	}
	*buf = out
	return mem.BufferSlice{mem.NewBuffer(buf, answerPool)}, nil
}

func (c serverCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := unmarshalers[reflect.TypeOf(v)]
	if !ok {
		return c.base.Unmarshal(data, v)
	}
	var b []byte
	if p, ok := v.(Pooled); ok {
		b = p.WireBuffer(data.Len())
		data.CopyTo(b)
	} else {
		b = data.Materialize() // a copy of gRPC's buffers, f's to keep
	}
	return f(b, v)
}

// Pooled is what a handler that takes its requests from a pool decodes
// into (feature.Register's Retrieve): a holder, of a type with an
// UnmarshalFunc, of the request Message() and of the bytes it is decoded
// from, both reused from one call to the next. The codec copies gRPC's
// buffers into WireBuffer(n), n bytes, instead of into a new slice; the
// receive limits and the interceptors see Message().
type Pooled interface {
	WireBuffer(n int) []byte
	Message() any
}

// message is the request that v, what gRPC decodes into, holds.
func message(v any) any {
	if p, ok := v.(Pooled); ok {
		return p.Message()
	}
	return v
}

// answerPool keeps the buffers of appended answers. A buffer keeps the
// capacity it grew to, so after the first calls an answer of a usual size
// is appended without growing.
var answerPool = &bufferPool{}

type bufferPool struct{ pool sync.Pool }

// maxPooled bounds the buffers kept: an unusually large answer is left to
// the garbage collector rather than held for the next.
const maxPooled = 4 << 20

func (p *bufferPool) Get(length int) *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok && cap(*b) >= length {
		*b = (*b)[:length]
		return b
	}
	b := make([]byte, length, max(length, 4096))
	return &b
}

func (p *bufferPool) Put(b *[]byte) {
	if cap(*b) > maxPooled {
		return
	}
	p.pool.Put(b)
}
