// Package feature serves FeatureService: Retrieve reads the blocks of a
// batch of entity keys from each feature group's store (through the cache
// tiers), and answers one row per key with dense matrices per element type.
package feature

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers"
	"github.com/ofstack/ofs/views"
)

// Limits bound what one Retrieve may ask for; each is checked before the
// work it bounds (the keys parsed, the answer allocated).
type Limits struct {
	// MaxKeys bounds the keys of one Retrieve.
	MaxKeys int
	// MaxValues bounds keys x values per key (every element of every
	// vector, string or number): the size of the answer's matrices.
	MaxValues int
	// MaxAnswerBytes bounds the answer: its matrices, found flags and
	// strings.
	MaxAnswerBytes int
}

// Default limits.
const (
	DefaultMaxKeys        = 10000
	DefaultMaxValues      = 4 << 20  // 16 MiB of fp32 values
	DefaultMaxAnswerBytes = 48 << 20 // under the server's 64 MiB send limit
)

// DefaultLimits are the limits of a server without WithLimits.
func DefaultLimits() Limits {
	return Limits{MaxKeys: DefaultMaxKeys, MaxValues: DefaultMaxValues, MaxAnswerBytes: DefaultMaxAnswerBytes}
}

// Reader reads the blocks of keys x groups: views.Store, or the cache tiers
// in front of one.
type Reader interface {
	Read(ctx context.Context, keys []views.Key, groups []uint32) ([][]byte, error)
}

// VerifiedReader is a Reader that can say that the blocks it returns have
// passed their checksums already (views.TieredReader: all came from the
// L1, which verifies blocks on their way in), so that the server does not
// verify them again.
type VerifiedReader interface {
	// ReadVerified builds its result in dst when dst has the capacity.
	ReadVerified(ctx context.Context, keys []views.Key, groups []uint32, dst [][]byte) (blocks [][]byte, verified bool, err error)
}

// Readers resolves a registry store id to its reader. An unknown id is a
// configuration error of the server.
type Readers func(storeID string) (Reader, error)

// Server implements FeatureService.
type Server struct {
	featurev1.UnimplementedFeatureServiceServer

	holder  *schema.Holder
	readers Readers
	layouts blocks.Cache
	plans   planCache
	log     *slog.Logger
	now     func() time.Time
	persist *persister

	sync      func(context.Context) (*schema.Snapshot, error)
	syncMu    sync.Mutex // serializes registry syncs, and guards syncStart
	syncStart time.Time  // when the last successful sync began

	limits Limits

	corrupt  *prometheus.CounterVec
	defaults *prometheus.CounterVec
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithClock sets the clock that decides expiry (tests).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithRegistrySync sets a function that returns a snapshot at least as new
// as the registry's latest state (the revision of the registry's etcd copy, once the
// watch delivered it). A block of a schema version that the held snapshot
// lacks (written by an ingest processor whose registry is ahead) makes the
// server sync and answer the request again with the newer snapshot,
// instead of answering that block as corrupt defaults.
func WithRegistrySync(f func(context.Context) (*schema.Snapshot, error)) Option {
	return func(s *Server) { s.sync = f }
}

// WithRegisterer registers the server's metrics.
func WithRegisterer(r prometheus.Registerer) Option {
	return func(s *Server) { r.MustRegister(s.corrupt, s.defaults) }
}

// WithLimits sets the limits of a Retrieve (default DefaultLimits); a zero
// field keeps its default.
func WithLimits(l Limits) Option {
	return func(s *Server) {
		if l.MaxKeys > 0 {
			s.limits.MaxKeys = l.MaxKeys
		}
		if l.MaxValues > 0 {
			s.limits.MaxValues = l.MaxValues
		}
		if l.MaxAnswerBytes > 0 {
			s.limits.MaxAnswerBytes = l.MaxAnswerBytes
		}
	}
}

// New returns a server answering from the registry in holder and the stores
// readers resolves.
func New(holder *schema.Holder, readers Readers, opts ...Option) *Server {
	s := &Server{
		holder: holder, readers: readers,
		log: slog.New(slog.DiscardHandler), now: time.Now, limits: DefaultLimits(),
		corrupt: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ofs_retrieve_corrupt_blocks_total",
			Help: "Blocks that failed their checksum or layout check and were answered as defaults.",
		}, []string{"feature_group"}),
		defaults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ofs_retrieve_defaults_total",
			Help: "Rows of a feature group answered with its defaults, by reason: missing (no block) or expired.",
		}, []string{"feature_group", "reason"}),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Retrieve answers one row per requested key.
func (s *Server) Retrieve(ctx context.Context, req *featurev1.RetrieveRequest) (*featurev1.RetrieveResponse, error) {
	resp, err := s.retrieve(ctx, req)
	return resp, retrieveStatus(err)
}

func (s *Server) retrieve(ctx context.Context, req *featurev1.RetrieveRequest) (*featurev1.RetrieveResponse, error) {
	snap := s.holder.Load()
	scratch := scratches.Get().(*scratch)
	defer scratch.done()
	for synced := false; ; synced = true {
		p, err := s.plans.get(snap, &s.layouts, req)
		if err != nil {
			return nil, err
		}
		if err := s.checkSize(p, req); err != nil {
			return nil, err
		}
		keys, err := p.keys(req.GetKeys(), req.GetKeyValues(), scratch)
		if err != nil {
			return nil, err
		}
		blocksOf, verified, err := s.fetch(ctx, p, keys, scratch)
		if err != nil {
			return nil, err
		}
		read := time.Now()
		var unknown *bool // set when a block's schema version is not in snap
		if !synced && s.sync != nil {
			unknown = new(bool)
		}
		mem := borrowAnswer(ctx)
		resp := s.assemble(p, keys, blocksOf, verified, req, unknown, mem)
		if unknown != nil && *unknown {
			if newer := s.syncRegistry(ctx, snap, read); newer != nil {
				lend(mem, nil)
				snap = newer
				continue // read and answer again with the registry that knows the block
			}
			resp = s.assemble(p, keys, blocksOf, verified, req, nil, mem)
		}
		resp, err = s.checkAnswer(p, resp)
		lend(mem, resp)
		return resp, err
	}
}

func exhausted(format string, args ...any) error {
	return servers.Errorf(codes.ResourceExhausted, format, args...)
}

// checkSize bounds the keys and the answer of req (planned as p) before
// any key is parsed or any of the answer allocated.
func (s *Server) checkSize(p *plan, req *featurev1.RetrieveRequest) error {
	n := len(req.GetKeys())
	if flat := len(req.GetKeyValues()); flat > 0 {
		n = flat / len(p.entity.Keys)
	}
	l := s.limits
	if n > l.MaxKeys {
		return exhausted("%d keys, more than retrieve_max_keys (%d)", n, l.MaxKeys)
	}
	width := p.strings
	for _, w := range p.width {
		width += w
	}
	if int64(n)*int64(width) > int64(l.MaxValues) {
		return exhausted("%d keys x %d values a key is %d values, more than retrieve_max_values (%d)",
			n, width, int64(n)*int64(width), l.MaxValues)
	}
	if b := answerBytes(p, n, nil); b > l.MaxAnswerBytes {
		return exhausted("the answer would be at least %d bytes, more than retrieve_max_answer_bytes (%d)", b, l.MaxAnswerBytes)
	}
	return nil
}

// checkAnswer bounds an answer with strings, whose size is known only
// once they are read.
func (s *Server) checkAnswer(p *plan, resp *featurev1.RetrieveResponse) (*featurev1.RetrieveResponse, error) {
	if p.strings > 0 {
		if n := answerBytes(p, rowsOf(p, resp), resp); n > s.limits.MaxAnswerBytes {
			return nil, exhausted("the answer would be %d bytes with its strings, more than retrieve_max_answer_bytes (%d)",
				n, s.limits.MaxAnswerBytes)
		}
	}
	return resp, nil
}

// answerBytes estimates the answer to n keys planned as p: its matrices,
// found flags and string headers, and the strings of resp if given.
func answerBytes(p *plan, n int, resp *featurev1.RetrieveResponse) int {
	per := 4*p.width[classFP32] + 8*(p.width[classFP64]+p.width[classInt64]+p.width[classUint64]) +
		len(p.groups) + 2*p.strings + 4 // a row's framing
	total := int64(n) * int64(per)
	for _, s := range resp.GetStrings() {
		total += int64(len(s))
	}
	for _, r := range resp.GetRows() {
		for _, s := range r.GetStrings() {
			total += int64(len(s))
		}
	}
	return int(min(total, 1<<62))
}

// rowsOf is the number of rows of resp, an answer planned as p, in either
// form.
func rowsOf(p *plan, resp *featurev1.RetrieveResponse) int {
	if rows := resp.GetRows(); len(rows) > 0 {
		return len(rows)
	}
	return len(resp.GetFound()) / len(p.groups)
}

// syncRegistry returns a snapshot newer than snap that a sync begun after
// read found, or nil. Syncs are one at a time; a request whose blocks were
// read before the last sync began takes that sync's result.
func (s *Server) syncRegistry(ctx context.Context, snap *schema.Snapshot, read time.Time) *schema.Snapshot {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if !s.syncStart.After(read) {
		start := time.Now()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.sync(sctx)
		cancel()
		if err != nil {
			s.log.Warn("registry sync for a block of an unknown schema version failed", "err", err)
			return nil
		}
		s.syncStart = start
	}
	if held := s.holder.Load(); held.Revision() > snap.Revision() {
		return held
	}
	return nil
}

// keys checks the request's keys, given as messages or in compact form,
// against the entity and converts them.
func (p *plan) keys(in []*featurev1.EntityKey, flat []string, mem *scratch) ([]views.Key, error) {
	if len(flat) > 0 {
		return p.flatKeys(flat, len(in), mem)
	}
	if len(in) == 0 {
		return nil, invalid("a retrieve takes at least 1 key")
	}
	keys := make([]views.Key, len(in))
	for i, k := range in {
		if err := p.entity.CheckKey(k.GetValues()); err != nil {
			return nil, invalid("key %d: %v", i, err)
		}
		keys[i] = views.Key{Entity: p.entity.Name, Values: k.GetValues()}
	}
	return keys, nil
}

func (p *plan) flatKeys(flat []string, messages int, mem *scratch) ([]views.Key, error) {
	cols := len(p.entity.Keys)
	n := len(flat) / cols
	switch {
	case messages > 0:
		return nil, invalid("give the keys as keys or as key_values, not both")
	case len(flat)%cols != 0:
		return nil, invalid("%d key_values for entity %q with %d key columns: not a whole number of keys", len(flat), p.entity.Name, cols)
	}
	keys := mem.keyBuf(n)
	for i := range keys {
		v := flat[i*cols : (i+1)*cols : (i+1)*cols]
		if err := p.entity.CheckKey(v); err != nil {
			return nil, invalid("key %d: %v", i, err)
		}
		keys[i] = views.Key{Entity: p.entity.Name, Values: v}
	}
	return keys, nil
}

// fetch reads the blocks of every group, one Read per store, the stores in
// parallel. blocksOf[j][i] is group j's block for key i; verified[j] says
// that group j's blocks have passed their checksums already (they all came
// from the L1: see VerifiedReader).
func (s *Server) fetch(ctx context.Context, p *plan, keys []views.Key, mem *scratch) (blocksOf [][][]byte, verified []bool, err error) {
	blocksOf = make([][][]byte, len(p.groups))
	verified = make([]bool, len(p.groups))
	if len(p.storeIDs) == 1 { // the common case: no goroutine to pay for
		return blocksOf, verified, s.fetchStore(ctx, p, p.storeIDs[0], keys, blocksOf, verified, mem)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, storeID := range p.storeIDs {
		g.Go(func() error { return s.fetchStore(gctx, p, storeID, keys, blocksOf, verified, nil) })
	}
	return blocksOf, verified, g.Wait()
}

// fetchStore reads the blocks of the groups of storeID into blocksOf, in
// mem's buffer when mem is not nil (a single store: one buffer suffices).
func (s *Server) fetchStore(ctx context.Context, p *plan, storeID string, keys []views.Key, blocksOf [][][]byte, verified []bool, mem *scratch) error {
	sg := p.byStore[storeID]
	idx, ids := sg.idx, sg.ids
	r, err := s.readerOf(storeID)
	if err != nil {
		return servers.Errorf(codes.Internal, "store %q: %w", storeID, err)
	}
	var out [][]byte
	ok := false
	if vr, isVR := r.(VerifiedReader); isVR {
		out, ok, err = vr.ReadVerified(ctx, keys, ids, mem.blockBuf())
		mem.keepBlocks(out)
	} else {
		out, err = r.Read(ctx, keys, ids)
	}
	if err != nil {
		if errors.Is(err, views.ErrUnavailable) {
			return servers.Code(codes.Unavailable, fmt.Errorf("store %q: %w", storeID, err))
		}
		return fmt.Errorf("store %q: %w", storeID, err)
	}
	if len(idx) == 1 { // one group of the store: its blocks are out itself
		blocksOf[idx[0]] = out
	} else {
		for _, j := range idx {
			blocksOf[j] = make([][]byte, len(keys))
		}
		for i := range keys {
			for n, j := range idx {
				blocksOf[j][i] = out[i*len(ids)+n]
			}
		}
	}
	for _, j := range idx {
		verified[j] = ok
	}
	return nil
}

// assemble answers req, planned as p, from the blocks: in compact form
// (found flags and strings row-major in the answer itself) or with a Row
// message per key, as req asks. With unknown set, a block of a schema
// version p's snapshot lacks stops it: it sets *unknown and returns nil,
// for the caller to sync the registry.
func (s *Server) assemble(p *plan, keys []views.Key, blocksOf [][][]byte, verified []bool, req *featurev1.RetrieveRequest, unknown *bool, mem *answerMem) *featurev1.RetrieveResponse {
	compact := req.GetCompact()
	n := len(keys)
	var fp32 []float32
	var fp64 []float64
	var i64 []int64
	var u64 []uint64
	if w := p.width[classFP32]; w > 0 {
		fp32 = mem.fp32s(n * w)
	}
	if w := p.width[classFP64]; w > 0 {
		fp64 = make([]float64, n*w)
	}
	if w := p.width[classInt64]; w > 0 {
		i64 = make([]int64, n*w)
	}
	if w := p.width[classUint64]; w > 0 {
		u64 = make([]uint64, n*w)
	}
	found := mem.foundFlags(n * len(p.groups))
	var rowMem []featurev1.Row
	var rows []*featurev1.Row
	if !compact {
		rowMem, rows = mem.rowMessages(n)
	}
	var strs []string
	if p.strings > 0 {
		strs = make([]string, n*p.strings)
	}
	touchBlocks(blocksOf)
	now := s.now().UnixMicro()
	var r codec.Reader
	var bools []bool
	var countBuf [2 * 8]int
	defaults := countBuf[:0] // per group: missing, expired
	if 2*len(p.groups) > len(countBuf) {
		defaults = make([]int, 0, 2*len(p.groups))
	}
	defaults = defaults[:2*len(p.groups)]
	for i := range n {
		rowFound := found[i*len(p.groups) : (i+1)*len(p.groups)]
		var rowStrings []string
		if p.strings > 0 {
			rowStrings = strs[i*p.strings : (i+1)*p.strings]
		}
		for j := range p.groups {
			gp := &p.groups[j]
			b := blocksOf[j][i]
			if b == nil {
				r.OpenDefaults(gp.proj)
				defaults[2*j]++
			} else {
				var err error
				if verified[j] {
					err = r.OpenVerified(b, gp.proj, now)
				} else {
					err = r.Open(b, gp.proj, now)
				}
				switch {
				case err == nil:
					rowFound[j] = true
				case errors.Is(err, codec.ErrExpired):
					defaults[2*j+1]++
				case unknown != nil && errors.Is(err, codec.ErrUnknownVersion):
					*unknown = true
					return nil
				default:
					s.corrupt.WithLabelValues(gp.group.Name).Inc()
					s.log.Error("corrupt block answered as defaults", "feature_group", gp.group.Name,
						"key", keys[i].String(), "err", err)
				}
			}
			if gp.allFP32 {
				w := p.width[classFP32]
				dst := fp32[i*w+gp.fp32Off : i*w+gp.fp32Off+gp.proj.Width()]
				if err := r.ReadFloat32s(dst); err != nil {
					panic(fmt.Sprintf("feature: plan of %q broke its own invariant: %v", gp.group.Name, err))
				}
			} else {
				for c := range gp.cols {
					cp := &gp.cols[c]
					switch cp.class {
					case classFP32:
						base := i*p.width[classFP32] + cp.off
						if !cp.isVec {
							fp32[base] = r.Float32(c)
						} else {
							r.AppendFloat32s(fp32[base:base:base+cp.n], c)
						}
					case classFP64:
						base := i*p.width[classFP64] + cp.off
						if !cp.isVec {
							fp64[base] = r.Float64(c)
						} else {
							r.AppendFloat64s(fp64[base:base:base+cp.n], c)
						}
					case classInt64:
						base := i*p.width[classInt64] + cp.off
						switch {
						case cp.typ == schema.Bool && !cp.isVec:
							i64[base] = b2i(r.Bool(c))
						case cp.typ == schema.Bool:
							bools = r.AppendBools(bools[:0], c)
							for k, v := range bools {
								i64[base+k] = b2i(v)
							}
						case !cp.isVec:
							i64[base] = r.Int64(c)
						default:
							r.AppendInt64s(i64[base:base:base+cp.n], c)
						}
					case classUint64:
						base := i*p.width[classUint64] + cp.off
						if !cp.isVec {
							u64[base] = r.Uint64(c)
						} else {
							r.AppendUint64s(u64[base:base:base+cp.n], c)
						}
					case classString:
						if !cp.isVec {
							rowStrings[cp.off] = r.String(c)
						} else {
							r.AppendStrings(rowStrings[cp.off:cp.off:cp.off+cp.n], c)
						}
					}
				}
			}
		}
		if !compact {
			row := &rowMem[i]
			row.Found, row.Strings = rowFound, rowStrings
			rows[i] = row
		}
	}
	for j := range p.groups {
		if n := defaults[2*j]; n > 0 {
			s.defaults.WithLabelValues(p.groups[j].group.Name, "missing").Add(float64(n))
		}
		if n := defaults[2*j+1]; n > 0 {
			s.defaults.WithLabelValues(p.groups[j].group.Name, "expired").Add(float64(n))
		}
	}
	resp := mem.response()
	resp.RegistryRevision = p.rev
	if rev := req.GetColumnsRevision(); rev == 0 || rev != p.rev {
		resp.Columns = p.columns
	}
	if compact {
		resp.Found, resp.Strings = found, strs
	} else {
		resp.Rows = rows
	}
	for m := range numMatrices {
		if p.matrix[m] < 0 {
			continue
		}
		var data []byte
		switch m {
		case classFP32:
			data = leBytes(fp32)
		case classFP64:
			data = leBytes(fp64)
		case classInt64:
			data = leBytes(i64)
		case classUint64:
			data = leBytes(u64)
		}
		resp.Matrices = append(resp.Matrices, &featurev1.DenseMatrix{
			Type: schema.DataTypeToProto(matrixType[m]), Width: uint32(p.width[m]), Data: data})
	}
	if req.GetTypedValues() {
		addTypedValues(resp, p, n, strs)
	}
	return resp
}

// touchBlocks reads one byte of every cache line of every block before
// assemble opens them one by one: blocks of random keys are cache misses,
// and these loads, depending on nothing but the slices, let the CPU wait
// for many at once instead of for each in turn.
//
//go:noinline
func touchBlocks(blocksOf [][][]byte) byte {
	var sum byte
	for _, bs := range blocksOf {
		for _, b := range bs {
			for i := 0; i < len(b); i += 64 {
				sum += b[i]
			}
		}
	}
	return sum
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// littleEndian reports the host's byte order, once.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// leBytes returns the little-endian bytes of s: on a little-endian host
// (every host ofs is deployed on) the same memory, without a copy.
func leBytes[T float32 | float64 | int64 | uint64](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	size := int(unsafe.Sizeof(s[0]))
	b := unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*size)
	if littleEndian {
		return b
	}
	out := make([]byte, len(b))
	for i := 0; i < len(b); i += size {
		switch size {
		case 4:
			binary.LittleEndian.PutUint32(out[i:], binary.NativeEndian.Uint32(b[i:]))
		case 8:
			binary.LittleEndian.PutUint64(out[i:], binary.NativeEndian.Uint64(b[i:]))
		}
	}
	return out
}

// Roles are who may call FeatureService and PeerService: Retrieve readers;
// Persist and a peer's Invalidate writers.
func Roles() servers.Roles {
	return servers.Roles{
		featurev1.FeatureService_Retrieve_FullMethodName: servers.Reader,
		featurev1.FeatureService_Persist_FullMethodName:  servers.Writer,
		featurev1.PeerService_Invalidate_FullMethodName:  servers.Writer,
	}
}

// DefaultsCounter returns the counter of rows of group answered with
// defaults for reason ("missing" or "expired"): for tests and tools.
func (s *Server) DefaultsCounter(group, reason string) prometheus.Counter {
	return s.defaults.WithLabelValues(group, reason)
}
