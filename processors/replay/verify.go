package replay

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
)

// VerifyConfig is what a verification needs.
type VerifyConfig struct {
	Source
	// Stores resolves the store to compare each group's rows with.
	Stores views.StoreResolver
	// Diffs is how many differing keys to report with both values; default 10.
	Diffs int
	// BatchSize is the keys per store read; default 1000.
	BatchSize int
	// Progress, if set, is called about once a second and at the end.
	Progress func(VerifyProgress)
}

// VerifyProgress is how far a verification is.
type VerifyProgress struct {
	Stats
	Compared int64 // rows compared with the store
}

// GroupReport compares one feature group's rows.
type GroupReport struct {
	Group string
	ID    uint32
	// Rows are the rows of the fold, not expired; Found those the store has.
	Rows, Found int64
	Equal       int64
	Missing     int64 // the fold has a row, the store none
	Stale       int64 // the store's row is older than the fold's
	Differ      int64 // same event time, other values (or a block that does not decode)
	// Newer rows were written after the watermark (live only: not drift).
	Newer int64
	// Expired rows of the fold are not expected in the store.
	Expired int64
	// LogSum and StoreSum are checksums of the rows compared (Newer and
	// Expired left out): equal exactly when there is no drift.
	LogSum, StoreSum uint64
}

// Drift is how many rows differ.
func (g *GroupReport) Drift() int64 { return g.Missing + g.Stale + g.Differ }

// Diff is one differing key, both sides decoded.
type Diff struct {
	Group   string
	Key     views.Key
	Problem string // missing, stale, differ, newer (as of a time)
	Log     string // the fold's row
	Store   string // the store's row, "(none)" when missing
}

// Report is what a verification found.
type Report struct {
	Stats
	Groups     []GroupReport // by name
	Diffs      []Diff        // the first VerifyConfig.Diffs, by group and key
	Watermarks map[int32]int64
	Rejected   map[events.Code]int64
	Elapsed    time.Duration
}

// Drift is how many rows differ in all groups.
func (r *Report) Drift() int64 {
	var n int64
	for i := range r.Groups {
		n += r.Groups[i].Drift()
	}
	return n
}

// Verify folds the features topic up to the watermarks it takes at start
// and compares every row with the store. On a live system, a store row
// newer than the fold's (by event time) was written by ingest after the
// watermark and is not drift; with AsOf, nothing may be newer, since no
// process writes a store filled as of a past time.
func Verify(ctx context.Context, cfg VerifyConfig) (Report, error) {
	if cfg.Diffs <= 0 {
		cfg.Diffs = 10
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	start := time.Now()
	f, err := openFold(ctx, cfg.Source)
	if err != nil {
		return Report{}, err
	}
	defer f.Close()
	v := &verifier{f: f, cfg: cfg, strict: !cfg.AsOf.IsZero(), groups: map[uint32]*GroupReport{}}
	stop := every(time.Second, func() {
		if cfg.Progress != nil {
			cfg.Progress(VerifyProgress{Stats: f.stats(), Compared: v.compared.Load()})
		}
	})
	err = f.run(ctx, func(int32) sink { return &foldSink{v: v, rows: map[string]*foldRow{}} })
	stop()
	r := Report{Stats: f.stats(), Watermarks: f.watermarks(), Rejected: f.rejections(), Elapsed: time.Since(start)}
	for _, g := range v.groups {
		r.Groups = append(r.Groups, *g)
	}
	slices.SortFunc(r.Groups, func(a, b GroupReport) int { return strings.Compare(a.Group, b.Group) })
	slices.SortFunc(v.diffs, func(a, b Diff) int {
		if c := strings.Compare(a.Group, b.Group); c != 0 {
			return c
		}
		return slices.Compare(a.Key.Values, b.Key.Values)
	})
	r.Diffs = v.diffs[:min(len(v.diffs), cfg.Diffs)]
	return r, err
}

type verifier struct {
	f        *fold
	cfg      VerifyConfig
	strict   bool
	layouts  blocks.Cache
	compared atomic.Int64

	mu     sync.Mutex
	groups map[uint32]*GroupReport
	diffs  []Diff
}

// foldRow is the latest row of one key and group in the fold.
type foldRow struct {
	key       views.Key
	group     *schema.FeatureGroup
	store     *schema.Store
	block     []byte
	eventTime int64
	expiry    int64
}

// foldSink keeps the latest row per key of one partition (a key's events
// are all in one partition), then compares them with the store.
type foldSink struct {
	v    *verifier
	rows map[string]*foldRow
	kbuf []byte
}

func (s *foldSink) row(_ context.Context, row *events.Row) error {
	s.kbuf = strconv.AppendUint(s.kbuf[:0], uint64(row.Group.ID), 10)
	for _, k := range row.Key.Values {
		s.kbuf = strconv.AppendQuote(append(s.kbuf, ' '), k)
	}
	cur, ok := s.rows[string(s.kbuf)]
	// The stores' rule (views.Wins): the later event time, and at equal
	// times the same tie-break every store applies, so the fold is what any
	// store holds whatever order the events reached it in.
	if ok && !views.Wins(row.EventTime, row.Block, cur.eventTime, cur.block) {
		return nil
	}
	st, err := s.v.f.store(row)
	if err != nil {
		return err
	}
	if !ok {
		cur = &foldRow{key: row.Key}
		s.rows[string(s.kbuf)] = cur
	}
	cur.group, cur.store, cur.eventTime, cur.expiry = row.Group, st, row.EventTime, row.Expiry
	cur.block = append(cur.block[:0], row.Block...)
	return nil
}

func (s *foldSink) done(ctx context.Context) error {
	type batchID struct {
		store *schema.Store
		group uint32
	}
	batches := map[batchID][]*foldRow{}
	for _, r := range s.rows {
		id := batchID{r.store, r.group.ID}
		batches[id] = append(batches[id], r)
	}
	now := time.Now().UnixMicro()
	for id, rows := range batches {
		store, err := s.v.cfg.Stores(id.store)
		if err != nil {
			return err
		}
		for len(rows) > 0 {
			n := min(len(rows), s.v.cfg.BatchSize)
			keys := make([]views.Key, n)
			for i := range n {
				keys[i] = rows[i].key
			}
			got, err := store.Read(ctx, keys, []uint32{id.group})
			if err != nil {
				return fmt.Errorf("replay: verify: read %d keys of group %d: %w", n, id.group, err)
			}
			s.v.compare(rows[:n], got, now)
			rows = rows[n:]
		}
	}
	return nil
}

// compare records the comparison of fold rows with the store's blocks.
func (v *verifier) compare(rows []*foldRow, got [][]byte, now int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, r := range rows {
		v.compared.Add(1)
		g := v.groups[r.group.ID]
		if g == nil {
			name := r.group.Name
			if live, ok := v.f.final.FeatureGroupByID(r.group.ID); ok {
				name = live.Name
			}
			g = &GroupReport{Group: name, ID: r.group.ID}
			v.groups[r.group.ID] = g
		}
		if r.expiry != codec.NeverExpires && r.expiry <= now {
			g.Expired++
			continue
		}
		g.Rows++
		st := got[i]
		problem := ""
		switch {
		case st == nil:
			g.Missing++
			problem = "missing"
		case bytes.Equal(st, r.block):
			g.Found++
			g.Equal++
		default:
			g.Found++
			t, err := codec.EventTime(st)
			switch {
			case err == nil && t > r.eventTime && !v.strict:
				g.Rows--
				g.Found--
				g.Newer++
				continue
			case err == nil && t > r.eventTime:
				g.Differ++
				problem = "newer than the fold (nothing writes a store as of a past time)"
			case err == nil && t < r.eventTime:
				g.Stale++
				problem = "stale"
			case err == nil && v.render(r.group, st) == v.render(r.group, r.block):
				// The same values, encoded otherwise (compression).
				g.Equal++
				st = r.block
			default:
				g.Differ++
				problem = "differ"
			}
		}
		g.LogSum += rowSum(r, r.block)
		g.StoreSum += rowSum(r, st)
		if problem != "" && len(v.diffs) < 10*v.cfg.Diffs {
			d := Diff{Group: g.Group, Key: r.key, Problem: problem, Log: v.render(r.group, r.block), Store: "(none)"}
			if st != nil {
				d.Store = v.render(r.group, st)
			}
			v.diffs = append(v.diffs, d)
		}
	}
}

// rowSum is a row's part of a group checksum (a sum, so order-free).
func rowSum(r *foldRow, block []byte) uint64 {
	h := fnv.New64a()
	for _, k := range r.key.Values {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	h.Write(block)
	return h.Sum64()
}

// render decodes a block of g for people: its version, event time and
// every value.
func (v *verifier) render(g *schema.FeatureGroup, block []byte) string {
	h, err := codec.ReadHeader(block)
	if err != nil {
		return fmt.Sprintf("(not a block: %v)", err)
	}
	ver, ok := g.Version(h.SchemaVersion)
	if live, lok := v.f.final.FeatureGroupByID(g.ID); lok && !ok {
		ver, ok = live.Version(h.SchemaVersion)
	}
	if !ok {
		return fmt.Sprintf("(version %d, unknown to the registry)", h.SchemaVersion)
	}
	l, err := v.layouts.Layout(g.ID, ver)
	if err != nil {
		return fmt.Sprintf("(version %d: %v)", h.SchemaVersion, err)
	}
	p, err := codec.NewProjection(l, []*codec.Layout{l}, nil)
	if err != nil {
		return fmt.Sprintf("(version %d: %v)", h.SchemaVersion, err)
	}
	var rd codec.Reader
	if err := rd.Open(block, p, math.MinInt64); err != nil {
		return fmt.Sprintf("(version %d: %v)", h.SchemaVersion, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v%d at %s {", h.SchemaVersion, time.UnixMicro(h.EventTime).UTC().Format(time.RFC3339Nano))
	for i := range l.Len() {
		c := l.Column(i)
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %s", c.Name, value(&rd, i, c))
	}
	b.WriteString("}")
	return b.String()
}

// value formats column i of an open reader.
func value(rd *codec.Reader, i int, c codec.Column) string {
	if c.Len > 0 {
		switch {
		case c.Type == schema.String:
			return fmt.Sprintf("%q", rd.AppendStrings(nil, i))
		case c.Type == schema.Bool:
			return fmt.Sprint(rd.AppendBools(nil, i))
		case c.Type.IsFloat():
			return fmt.Sprint(rd.AppendFloat64s(nil, i))
		case c.Type.IsSigned():
			return fmt.Sprint(rd.AppendInt64s(nil, i))
		default:
			return fmt.Sprint(rd.AppendUint64s(nil, i))
		}
	}
	switch {
	case c.Type == schema.String:
		return strconv.Quote(rd.String(i))
	case c.Type == schema.Bool:
		return strconv.FormatBool(rd.Bool(i))
	case c.Type.IsFloat():
		return strconv.FormatFloat(rd.Float64(i), 'g', -1, 64)
	case c.Type.IsSigned():
		return strconv.FormatInt(rd.Int64(i), 10)
	default:
		return strconv.FormatUint(rd.Uint64(i), 10)
	}
}
