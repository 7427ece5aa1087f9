package schema_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ofstack/ofs/schema"
)

// at is the time the examples' commands are logged at.
var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// setup returns a registry with a store, a user entity and a user_stats group.
func setup() *schema.Registry {
	r := schema.NewRegistry()
	for i, c := range []schema.Command{
		schema.ApplyStore{ID: "redis_main", Kind: schema.Redis, Connection: "redis-main"},
		schema.ApplyEntity{Name: "user", Keys: []schema.KeyColumn{{Name: "user_id", Type: schema.Int64}}},
		schema.ApplyFeatureGroup{
			Name: "user_stats", Entity: "user", Store: "redis_main", TTL: 24 * time.Hour,
			Features: []schema.Feature{
				{Name: "clicks", Type: schema.Int64},
				{Name: "embedding", Type: schema.FP32, VectorLength: 4},
			},
		},
	} {
		var err error
		r, _, err = r.Apply(schema.Request{ID: fmt.Sprint("setup-", i), Actor: "example", Command: c}, at)
		if err != nil {
			panic(err)
		}
	}
	return r
}

func ExampleRegistry_Apply() {
	r := setup()
	g, _ := r.FeatureGroup("user_stats")

	// Add a feature, based on the revision the author read.
	req := schema.Request{
		ID: "add-ctr", Actor: "alice", Expect: schema.ExpectRevision(g.Meta.ModRevision),
		Command: schema.AddFeatures{Group: "user_stats", Features: []schema.Feature{
			{Name: "ctr", Type: schema.FP32, Default: schema.FloatValue(0.5)},
		}},
	}
	r, out, err := r.Apply(req, at.Add(time.Minute))
	fmt.Println(out.Revision, out.FeatureGroupVersion, err)

	// A second author based on the same revision is told to retry.
	req.ID = "add-ctr-again"
	_, _, err = r.Apply(req, at.Add(2*time.Minute))
	fmt.Println(errors.Is(err, schema.ErrStale))

	// Changing a feature's type is rejected, naming the feature and the rule.
	_, _, err = r.Apply(schema.Request{ID: "retype", Actor: "bob", Command: schema.ApplyFeatureGroup{
		Name: "user_stats", Entity: "user", Store: "redis_main",
		Features: []schema.Feature{{Name: "clicks", Type: schema.FP64}},
	}}, at.Add(3*time.Minute))
	fmt.Println(err)
	// Output:
	// 4 2 <nil>
	// true
	// feature group "user_stats" feature "clicks": schema: incompatible change: type int64 cannot become fp64 (rule feature-type-fixed: a feature name keeps its data type and vector length for life, even after removal; add a feature under a new name)
}

func ExampleVersion_Columns() {
	r := setup()
	g, _ := r.FeatureGroup("user_stats")
	for _, c := range g.Active().Columns() {
		fmt.Printf("%s type=%v vector=%d default=%v\n", c.Name, c.Type, c.VectorLength, c.Default)
	}
	// Output:
	// clicks type=int64 vector=0 default=0
	// embedding type=fp32 vector=4 default=0
}

func ExampleValue_ConvertTo() {
	v, err := schema.IntValue(3).ConvertTo(schema.FP16)
	fmt.Println(v, v.Kind(), err)
	_, err = schema.IntValue(300).ConvertTo(schema.Int8)
	fmt.Println(err)
	// Output:
	// 3 float <nil>
	// schema: invalid: 300 is out of the range of int8 (-128 to 127)
}

func ExampleHolder() {
	h := schema.NewHolder(nil)

	// The registry watcher installs each new state.
	h.Update(schema.NewSnapshot(setup()))

	// Readers load the current snapshot: one atomic read, never half updated.
	snap := h.Load()
	g, _ := snap.FeatureGroup("user_stats")
	i, _ := g.Active().Index("embedding")
	fmt.Println(snap.Revision(), g.ID, i)

	// After an Apply that returned revision 3, a server waits for its
	// snapshot to include it before answering.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	snap, err := h.Wait(ctx, 3)
	fmt.Println(snap.Revision(), err)
	// Output:
	// 3 1 1
	// 3 <nil>
}

func ExampleRegistry_Marshal() {
	a, b := setup(), setup()
	ba, _ := a.Marshal()
	bb, _ := b.Marshal()
	fmt.Println(string(ba) == string(bb))

	back, err := schema.UnmarshalRegistry(ba)
	fmt.Println(back.Revision(), err)
	// Output:
	// true
	// 3 <nil>
}
