package feature

import (
	"context"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/views"
)

// An answer of 100 keys of 50 fp32 features is about 33 KB of the
// server's memory (the matrix, the Row messages) that is garbage once
// gRPC has marshalled it; allocated anew per call, it made the garbage
// collector run about six times a second at 5,000 calls a second, each
// time marking every row of the L1. An answer to a gRPC call therefore
// borrows its memory from answerMems, and the codec's AppendFunc
// (wire.go), once the answer is in the wire buffer, gives it back. A call
// made in process (no gRPC server transport in its context) allocates:
// nothing would give the memory back. A gRPC stats handler sees the answer
// after it is given back, so it must not read the payload (otelgrpc's, in
// servers.Tracing, does not).
type answerMem struct {
	fp32  []float32
	rows  []featurev1.Row
	ptrs  []*featurev1.Row
	found []bool
	resp  featurev1.RetrieveResponse
}

var answerMems = sync.Pool{New: func() any { return new(answerMem) }}

// lent maps an answer on its way to the codec to its memory; lentCount
// counts the entries. An answer that never reaches the codec (an
// interceptor that drops it, a server without servers.NewGRPC's codec)
// leaves its entry behind, so past maxLent answers the server stops
// lending rather than grow the map.
var (
	lent      sync.Map // *featurev1.RetrieveResponse -> *answerMem
	lentCount atomic.Int64
)

// maxLent bounds the answers lent at once: far above the calls a server
// has in flight, and at most a few MB left behind if none came back.
const maxLent = 256

// borrowAnswer returns memory for the answer of a call served by gRPC, or
// nil to allocate.
func borrowAnswer(ctx context.Context) *answerMem {
	if grpc.ServerTransportStreamFromContext(ctx) == nil || lentCount.Load() >= maxLent {
		return nil
	}
	return answerMems.Get().(*answerMem)
}

// lend records that resp, built in m, goes to the codec; with resp nil (no
// answer after all) m goes back to the pool.
func lend(m *answerMem, resp *featurev1.RetrieveResponse) {
	if m == nil {
		return
	}
	if resp != &m.resp { // no answer after all
		answerMems.Put(m)
		return
	}
	lentCount.Add(1)
	lent.Store(resp, m)
}

// giveBack returns the memory of resp, now marshalled, to the pool.
func giveBack(resp *featurev1.RetrieveResponse) {
	if lentCount.Load() == 0 {
		return
	}
	if v, ok := lent.LoadAndDelete(resp); ok {
		lentCount.Add(-1)
		answerMems.Put(v.(*answerMem))
	}
}

// fp32s returns n zeroed float32s of m's, or new ones without m.
func (m *answerMem) fp32s(n int) []float32 {
	if m == nil {
		return make([]float32, n)
	}
	f := reuse(&m.fp32, n)
	clear(f)
	return f
}

// rowMessages returns n empty rows and n pointers to them.
func (m *answerMem) rowMessages(n int) (rows []featurev1.Row, ptrs []*featurev1.Row) {
	if m == nil {
		return make([]featurev1.Row, n), make([]*featurev1.Row, n)
	}
	rows = reuse(&m.rows, n)
	clear(rows)
	return rows, reuse(&m.ptrs, n)
}

// foundFlags returns n found flags, all false.
func (m *answerMem) foundFlags(n int) []bool {
	if m == nil {
		return make([]bool, n)
	}
	f := reuse(&m.found, n)
	clear(f)
	return f
}

// reuse returns (*buf)[:n], making *buf anew first when it is too short;
// what the elements hold is the caller's to clear.
func reuse[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	*buf = (*buf)[:n]
	return *buf
}

// response returns the answer message of m, emptied, or a new one.
func (m *answerMem) response() *featurev1.RetrieveResponse {
	if m == nil {
		return new(featurev1.RetrieveResponse)
	}
	m.resp.Reset()
	return &m.resp
}

// scratch is the memory a Retrieve needs only until its answer is built:
// the parsed keys and the blocks read. Taken from scratches and put back
// when retrieve returns (nothing it holds outlives the call: the answer
// copies what it keeps, the tiers copy the keys they cache), it spares the
// garbage collector about 6 KB a call of 100 keys.
type scratch struct {
	keys   []views.Key
	blocks [][]byte
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

// keyBuf returns n keys to fill.
func (m *scratch) keyBuf(n int) []views.Key { return reuse(&m.keys, n) }

// blockBuf returns the buffer for a read's blocks, or nil without m.
func (m *scratch) blockBuf() [][]byte {
	if m == nil {
		return nil
	}
	return m.blocks
}

// keepBlocks keeps out, a read's blocks, as the buffer of the next call.
func (m *scratch) keepBlocks(out [][]byte) {
	if m != nil && cap(out) > cap(m.blocks) {
		m.blocks = out
	}
}

// done clears what m refers to and puts it back in the pool.
func (m *scratch) done() {
	clear(m.keys[:cap(m.keys)])
	clear(m.blocks[:cap(m.blocks)])
	m.keys, m.blocks = m.keys[:0], m.blocks[:0]
	scratches.Put(m)
}
