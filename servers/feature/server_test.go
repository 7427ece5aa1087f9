package feature_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/testenv"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers/feature"
	"github.com/ofstack/ofs/views"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type fixture struct {
	reg    *schema.Registry
	holder *schema.Holder
	store  *views.Redis
	srv    *feature.Server
}

func mustApply(t testing.TB, r *schema.Registry, cmds ...schema.Command) *schema.Registry {
	t.Helper()
	for _, c := range cmds {
		next, out, err := r.Apply(schema.Request{ID: fmt.Sprint(r.Revision()), Actor: "test", Command: c}, now)
		if err != nil {
			t.Fatalf("apply %T: %v (%+v)", c, err, out)
		}
		r = next
	}
	return r
}

var profileV1 = []schema.Feature{
	{Name: "age", Type: schema.Int32, Default: schema.IntValue(-1)},
	{Name: "ctr", Type: schema.FP32},
	{Name: "country", Type: schema.String, Default: schema.StringValue("unknown")},
	{Name: "premium", Type: schema.Bool},
	{Name: "emb", Type: schema.FP16, VectorLength: 4},
	{Name: "visits", Type: schema.Uint16},
	{Name: "ltv", Type: schema.FP64},
}

func setup(t testing.TB) *fixture {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	store, err := views.NewRedis(rdb, views.RedisPrefix(testenv.Name(t)+":"))
	if err != nil {
		t.Fatal(err)
	}
	r := mustApply(t, schema.NewRegistry(),
		schema.ApplyStore{ID: "online", Kind: schema.Redis, Connection: "default"},
		schema.ApplyEntity{Name: "user", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Int64}}},
		schema.ApplyEntity{Name: "user_item", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Int64}, {Name: "sku", Type: schema.String}}},
		schema.ApplyFeatureGroup{Name: "profile", Entity: "user", ID: 1, Store: "online", Features: profileV1},
		schema.ApplyFeatureGroup{Name: "dense", Entity: "user", ID: 2, Store: "online", TTL: time.Hour, Features: []schema.Feature{
			{Name: "a", Type: schema.FP32}, {Name: "b", Type: schema.FP32, Default: schema.FloatValue(0.5)}}},
		schema.ApplyFeatureGroup{Name: "affinity", Entity: "user_item", ID: 3, Store: "online", Features: []schema.Feature{
			{Name: "score", Type: schema.FP32}}},
	)
	holder := schema.NewHolder(schema.NewSnapshot(r))
	srv := feature.New(holder, func(id string) (feature.Reader, error) {
		if id != "online" {
			return nil, errors.New("no such store")
		}
		return store, nil
	}, feature.WithClock(func() time.Time { return now }))
	return &fixture{reg: r, holder: holder, store: store, srv: srv}
}

// write encodes one block of group's active version (or version ver) and
// stores it.
func (f *fixture) write(t testing.TB, group string, ver uint32, key []string, eventTime, expiry time.Time, set func(*codec.Builder)) {
	t.Helper()
	g, _ := f.reg.FeatureGroup(group)
	v, ok := g.Version(ver)
	if !ok {
		t.Fatalf("no version %d of %s", ver, group)
	}
	l, err := blocks.NewLayout(v)
	if err != nil {
		t.Fatal(err)
	}
	b := codec.NewBuilder(l)
	set(b)
	exp := codec.NeverExpires
	if !expiry.IsZero() {
		exp = expiry.UnixMicro()
	}
	data, err := b.Append(nil, eventTime.UnixMicro(), exp)
	if err != nil {
		t.Fatal(err)
	}
	err = f.store.Write(context.Background(), []views.Block{{
		Key: views.Key{Entity: g.Entity, Values: key}, Group: g.ID, Data: data, EventTime: eventTime.UnixMicro()}})
	if err != nil {
		t.Fatal(err)
	}
}

func keys(ks ...[]string) []*featurev1.EntityKey {
	out := make([]*featurev1.EntityKey, len(ks))
	for i, k := range ks {
		out[i] = &featurev1.EntityKey{Values: k}
	}
	return out
}

func f32s(t *testing.T, m *featurev1.DenseMatrix) []float32 {
	t.Helper()
	if m.GetType() != registryv1.DataType_DATA_TYPE_FP32 {
		t.Fatalf("matrix type %v, want FP32", m.GetType())
	}
	out := make([]float32, len(m.GetData())/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(m.GetData()[4*i:]))
	}
	return out
}

func matrix(t *testing.T, resp *featurev1.RetrieveResponse, typ registryv1.DataType) *featurev1.DenseMatrix {
	t.Helper()
	for _, m := range resp.GetMatrices() {
		if m.GetType() == typ {
			return m
		}
	}
	t.Fatalf("no %v matrix", typ)
	return nil
}

func TestRetrieveReturnsWhatWasWritten(t *testing.T) {
	f := setup(t)
	f.write(t, "profile", 1, []string{"42"}, now.Add(-time.Minute), time.Time{}, func(b *codec.Builder) {
		b.SetInt64(0, 31)
		b.SetFloat32(1, 0.25)
		b.SetString(2, "DE")
		b.SetBool(3, true)
		b.SetFloat32s(4, []float32{1, -2, 0.5, 65504})
		b.SetUint64(5, 7)
		b.SetFloat64(6, 1234.5678)
	})
	resp, err := f.srv.Retrieve(context.Background(), &featurev1.RetrieveRequest{
		Entity: "user", Keys: keys([]string{"42"}, []string{"7"}, []string{"42"}),
		Groups:      []*featurev1.GroupSelection{{FeatureGroup: "profile"}},
		TypedValues: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetRows()) != 3 || !resp.GetRows()[0].GetFound()[0] || resp.GetRows()[1].GetFound()[0] || !resp.GetRows()[2].GetFound()[0] {
		t.Fatalf("found flags %v %v %v, want true false true", resp.GetRows()[0].GetFound(), resp.GetRows()[1].GetFound(), resp.GetRows()[2].GetFound())
	}
	fp := f32s(t, matrix(t, resp, registryv1.DataType_DATA_TYPE_FP32))
	// fp32 matrix: ctr, emb[4] per row.
	if want := []float32{0.25, 1, -2, 0.5, 65504}; fmt.Sprint(fp[:5]) != fmt.Sprint(want) {
		t.Fatalf("row 0 fp32 = %v, want %v", fp[:5], want)
	}
	if fmt.Sprint(fp[5:10]) != fmt.Sprint([]float32{0, 0, 0, 0, 0}) || fmt.Sprint(fp[10:15]) != fmt.Sprint(fp[:5]) {
		t.Fatalf("rows 1-2 fp32 = %v, want defaults then row 0 again", fp[5:15])
	}
	i64 := matrix(t, resp, registryv1.DataType_DATA_TYPE_INT64).GetData()
	if age, prem := int64(binary.LittleEndian.Uint64(i64[0:])), binary.LittleEndian.Uint64(i64[8:]); age != 31 || prem != 1 {
		t.Fatalf("row 0 int64 = age %d premium %d, want 31 1", age, prem)
	}
	if age := int64(binary.LittleEndian.Uint64(i64[16:])); age != -1 {
		t.Fatalf("row 1 age %d, want the default -1", age)
	}
	if v := binary.LittleEndian.Uint64(matrix(t, resp, registryv1.DataType_DATA_TYPE_UINT64).GetData()); v != 7 {
		t.Fatalf("visits %d, want 7", v)
	}
	if v := math.Float64frombits(binary.LittleEndian.Uint64(matrix(t, resp, registryv1.DataType_DATA_TYPE_FP64).GetData())); v != 1234.5678 {
		t.Fatalf("ltv %v, want 1234.5678", v)
	}
	if s := resp.GetRows()[0].GetStrings(); len(s) != 1 || s[0] != "DE" || resp.GetRows()[1].GetStrings()[0] != "unknown" {
		t.Fatalf("strings %v / %v, want DE / unknown", s, resp.GetRows()[1].GetStrings())
	}
	tv := resp.GetRows()[0].GetValues()
	if len(tv) != 7 || tv[0].GetInt64Value() != 31 || tv[2].GetStringValue() != "DE" || !tv[3].GetBoolValue() ||
		len(tv[4].GetFloatList().GetValues()) != 4 || tv[5].GetUint64Value() != 7 {
		t.Fatalf("typed values %v", tv)
	}
	for _, c := range resp.GetColumns() {
		if c.GetName() == "emb" && (c.GetVectorLength() != 4 || c.GetOffset() != 1) {
			t.Fatalf("column emb %v, want vector of 4 at offset 1", c)
		}
	}
}

func TestRetrieveAcrossVersionsExpiryAndCompositeKeys(t *testing.T) {
	f := setup(t)
	// An old block of the dense group, then version 2 adds a feature.
	f.write(t, "dense", 1, []string{"1"}, now.Add(-time.Minute), now.Add(time.Hour), func(b *codec.Builder) {
		b.SetFloat32(0, 1.5)
		b.SetFloat32(1, 2.5)
	})
	f.write(t, "dense", 1, []string{"2"}, now.Add(-2*time.Hour), now.Add(-time.Hour), func(b *codec.Builder) { // expired
		b.SetFloat32(0, 9)
		b.SetFloat32(1, 9)
	})
	f.reg = mustApply(t, f.reg, schema.ApplyFeatureGroup{Name: "dense", Entity: "user", ID: 2, Store: "online", TTL: time.Hour,
		Features: []schema.Feature{{Name: "a", Type: schema.FP32}, {Name: "b", Type: schema.FP32, Default: schema.FloatValue(0.5)},
			{Name: "c", Type: schema.FP32, Default: schema.FloatValue(7)}}})
	f.holder.Update(schema.NewSnapshot(f.reg))

	resp, err := f.srv.Retrieve(context.Background(), &featurev1.RetrieveRequest{
		Entity: "user", Keys: keys([]string{"1"}, []string{"2"}),
		Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense", Features: []string{"c", "a", "b"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f32s(t, resp.GetMatrices()[0])
	if want := []float32{7, 1.5, 2.5, 7, 0, 0.5}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("matrix %v, want %v (old block under version 2: new feature defaults; expired block: all defaults)", got, want)
	}
	if !resp.GetRows()[0].GetFound()[0] || resp.GetRows()[1].GetFound()[0] {
		t.Fatal("found flags: want the fresh block found and the expired one not")
	}

	f.write(t, "affinity", 1, []string{"5", "sku|{x}"}, now, time.Time{}, func(b *codec.Builder) { b.SetFloat32(0, 0.75) })
	resp, err = f.srv.Retrieve(context.Background(), &featurev1.RetrieveRequest{
		Entity: "user_item", Keys: keys([]string{"5", "sku|{x}"}, []string{"5", "other"}),
		Groups: []*featurev1.GroupSelection{{FeatureGroup: "affinity"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := f32s(t, resp.GetMatrices()[0]); got[0] != 0.75 || got[1] != 0 {
		t.Fatalf("composite keys: %v, want [0.75 0]", got)
	}
}

func TestRetrieveErrors(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	for name, req := range map[string]*featurev1.RetrieveRequest{
		"unknown entity":  {Entity: "nobody", Keys: keys([]string{"1"}), Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense"}}},
		"unknown group":   {Entity: "user", Keys: keys([]string{"1"}), Groups: []*featurev1.GroupSelection{{FeatureGroup: "nope"}}},
		"unknown feature": {Entity: "user", Keys: keys([]string{"1"}), Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense", Features: []string{"zzz"}}}},
		"other entity":    {Entity: "user", Keys: keys([]string{"1"}), Groups: []*featurev1.GroupSelection{{FeatureGroup: "affinity"}}},
		"key arity":       {Entity: "user", Keys: keys([]string{"1", "2"}), Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense"}}},
		"no keys":         {Entity: "user", Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense"}}},
		"no groups":       {Entity: "user", Keys: keys([]string{"1"})},
		"bad key text":    {Entity: "user", Keys: keys([]string{"01"}), Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense"}}},
	} {
		_, err := f.srv.Retrieve(ctx, req)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}

	// A store that cannot be reached is Unavailable, never defaults.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer dead.Close()
	deadStore, err := views.NewRedis(dead)
	if err != nil {
		t.Fatal(err)
	}
	srv := feature.New(f.holder, func(string) (feature.Reader, error) { return deadStore, nil })
	_, err = srv.Retrieve(ctx, &featurev1.RetrieveRequest{Entity: "user", Keys: keys([]string{"1"}),
		Groups: []*featurev1.GroupSelection{{FeatureGroup: "dense"}}})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("dead store: %v, want Unavailable", err)
	}
}

// TestRetrieveCompactAnswer: the compact form answers the same matrices,
// found flags and strings as the Row form, row-major in the answer itself;
// typed values still come as rows; columns are left out only for a caller
// that holds them for the revision answered.
func TestRetrieveCompactAnswer(t *testing.T) {
	f := setup(t)
	f.write(t, "profile", 1, []string{"42"}, now.Add(-time.Minute), time.Time{}, func(b *codec.Builder) {
		b.SetInt64(0, 31)
		b.SetString(2, "DE")
	})
	f.write(t, "dense", 1, []string{"7"}, now.Add(-time.Minute), now.Add(time.Hour), func(b *codec.Builder) { b.SetFloat32(0, 1.5) })
	req := func(compact, typed bool, columnsRev uint64) *featurev1.RetrieveRequest {
		return &featurev1.RetrieveRequest{Entity: "user", KeyValues: []string{"42", "7", "42"},
			Groups:  []*featurev1.GroupSelection{{FeatureGroup: "profile"}, {FeatureGroup: "dense"}},
			Compact: compact, TypedValues: typed, ColumnsRevision: columnsRev}
	}
	ctx := context.Background()
	rows, err := f.srv.Retrieve(ctx, req(false, false, 0))
	if err != nil {
		t.Fatal(err)
	}
	compact, err := f.srv.Retrieve(ctx, req(true, false, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(compact.GetRows()) != 0 {
		t.Fatalf("compact answer has %d rows, want none", len(compact.GetRows()))
	}
	var found []bool
	var strs []string
	for _, r := range rows.GetRows() {
		found = append(found, r.GetFound()...)
		strs = append(strs, r.GetStrings()...)
	}
	if want := []bool{true, false, false, true, true, false}; fmt.Sprint(compact.GetFound()) != fmt.Sprint(want) || fmt.Sprint(found) != fmt.Sprint(want) {
		t.Fatalf("found: compact %v, rows %v, want %v", compact.GetFound(), found, want)
	}
	if want := []string{"DE", "unknown", "DE"}; fmt.Sprint(compact.GetStrings()) != fmt.Sprint(want) || fmt.Sprint(strs) != fmt.Sprint(want) {
		t.Fatalf("strings: compact %v, rows %v, want %v", compact.GetStrings(), strs, want)
	}
	if fmt.Sprint(compact.GetMatrices()) != fmt.Sprint(rows.GetMatrices()) || len(compact.GetColumns()) != len(rows.GetColumns()) || len(rows.GetColumns()) == 0 {
		t.Fatal("the compact form answers other matrices or columns than the Row form")
	}

	typed, err := f.srv.Retrieve(ctx, req(true, true, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(typed.GetRows()) != 3 || len(typed.GetRows()[1].GetFound()) != 0 || typed.GetRows()[1].GetValues()[2].GetStringValue() != "unknown" ||
		typed.GetRows()[2].GetValues()[2].GetStringValue() != "DE" || len(typed.GetFound()) != 6 {
		t.Fatalf("compact with typed values: rows %v, found %v", typed.GetRows(), typed.GetFound())
	}

	rev := compact.GetRegistryRevision()
	known, err := f.srv.Retrieve(ctx, req(true, false, rev))
	if err != nil {
		t.Fatal(err)
	}
	if len(known.GetColumns()) != 0 || known.GetRegistryRevision() != rev || len(known.GetMatrices()) == 0 {
		t.Fatalf("columns_revision %d of the revision answered: %d columns, revision %d", rev, len(known.GetColumns()), known.GetRegistryRevision())
	}
	stale, err := f.srv.Retrieve(ctx, req(true, false, rev-1))
	if err != nil {
		t.Fatal(err)
	}
	if len(stale.GetColumns()) != len(rows.GetColumns()) {
		t.Fatalf("columns_revision %d of another revision: %d columns, want %d", rev-1, len(stale.GetColumns()), len(rows.GetColumns()))
	}
}
