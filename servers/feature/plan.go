package feature

import (
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers"
)

// class is the dense matrix a column's values go to.
type class int8

const (
	classFP32   class = iota // fp8, fp16, fp32
	classFP64                // fp64
	classInt64               // signed integers and bools
	classUint64              // unsigned integers
	numMatrices
	classString class = -1
)

var matrixType = [numMatrices]schema.DataType{schema.FP32, schema.FP64, schema.Int64, schema.Uint64}

func classOf(t schema.DataType) class {
	switch {
	case t == schema.String:
		return classString
	case t == schema.FP64:
		return classFP64
	case t.IsFloat():
		return classFP32
	case t.IsUnsigned():
		return classUint64
	default:
		return classInt64 // signed integers and Bool
	}
}

// colPlan places one projected column of a group in the answer.
type colPlan struct {
	class class
	typ   schema.DataType
	n     int  // elements: the vector length, or 1
	off   int  // first element in a row of its matrix, or first index in Row.strings
	isVec bool // a vector, even of length 1
}

func (c colPlan) vector() bool { return c.isVec }

// groupPlan is how one requested group is read.
type groupPlan struct {
	group *schema.FeatureGroup
	proj  *codec.Projection
	cols  []colPlan
	// allFP32 is set when every column goes to the FP32 matrix, contiguously
	// from fp32Off: the whole group is one ReadFloat32s.
	allFP32 bool
	fp32Off int
}

// plan is how a request of one shape (entity, groups and features) is
// answered at one registry revision; plans are cached and shared.
type plan struct {
	rev      uint64
	entity   *schema.Entity
	groups   []groupPlan
	columns  []*featurev1.Column
	width    [numMatrices]int
	matrix   [numMatrices]int32 // index in the answer, or -1 when empty
	strings  int
	byStore  map[string]*storeGroups
	storeIDs []string // the keys of byStore, in first-use order
}

// storeGroups are the groups of a plan that one store holds.
type storeGroups struct {
	idx []int    // indexes into plan.groups
	ids []uint32 // their feature group ids, as the store's Read takes them
}

// planCache keeps plans by request shape. A new registry revision empties it.
type planCache struct {
	mu    sync.Mutex
	rev   uint64
	plans map[string]*plan
}

// maxPlans bounds the cache; a server sees a handful of request shapes, one
// per model, and the bound only guards against clients that vary them.
const maxPlans = 4096

func (c *planCache) get(snap *schema.Snapshot, layouts *blocks.Cache, req *featurev1.RetrieveRequest) (*plan, error) {
	key := req.Shape()
	c.mu.Lock()
	if c.rev != snap.Revision() || len(c.plans) >= maxPlans {
		c.rev, c.plans = snap.Revision(), make(map[string]*plan)
	}
	p, ok := c.plans[key]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := newPlan(snap, layouts, req)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.rev == p.rev {
		c.plans[key] = p
	}
	c.mu.Unlock()
	return p, nil
}

func invalid(format string, args ...any) error {
	return servers.Errorf(codes.InvalidArgument, format, args...)
}

// clip shortens a name from a request for a message.
func clip(s string) string { return schema.Clip(s, 64) }

func newPlan(snap *schema.Snapshot, layouts *blocks.Cache, req *featurev1.RetrieveRequest) (*plan, error) {
	e, ok := snap.Entity(req.GetEntity())
	if !ok {
		return nil, invalid("unknown entity %q", clip(req.GetEntity()))
	}
	if len(req.GetGroups()) == 0 {
		return nil, invalid("no feature groups requested")
	}
	p := &plan{rev: snap.Revision(), entity: e, byStore: map[string]*storeGroups{}}
	seen := map[string]bool{}
	for j, sel := range req.GetGroups() {
		g, ok := snap.FeatureGroup(sel.GetFeatureGroup())
		if !ok {
			return nil, invalid("unknown feature group %q", clip(sel.GetFeatureGroup()))
		}
		if g.Entity != e.Name {
			return nil, invalid("feature group %q describes entity %q, not %q", g.Name, g.Entity, e.Name)
		}
		if seen[g.Name] {
			return nil, invalid("feature group %q is requested twice", g.Name)
		}
		seen[g.Name] = true
		gp, err := p.addGroup(g, sel.GetFeatures(), layouts)
		if err != nil {
			return nil, err
		}
		p.groups = append(p.groups, gp)
		sg, ok := p.byStore[g.Store]
		if !ok {
			sg = &storeGroups{}
			p.byStore[g.Store] = sg
			p.storeIDs = append(p.storeIDs, g.Store)
		}
		sg.idx, sg.ids = append(sg.idx, j), append(sg.ids, g.ID)
	}
	next := int32(0)
	for m := range p.matrix {
		p.matrix[m] = -1
		if p.width[m] > 0 {
			p.matrix[m] = next
			next++
		}
	}
	for _, c := range p.columns {
		if c.GetMatrix() >= 0 {
			c.Matrix = p.matrix[c.GetMatrix()]
		}
	}
	return p, nil
}

func (p *plan) addGroup(g *schema.FeatureGroup, features []string, layouts *blocks.Cache) (groupPlan, error) {
	active := g.Active()
	if len(features) > len(active.Features) {
		return groupPlan{}, invalid("feature group %q: %d features asked for, it has %d (version %d)",
			g.Name, len(features), len(active.Features), active.Number)
	}
	idx := make([]int, 0, len(features))
	var seen []bool
	if len(features) == 0 {
		for i := range active.Features {
			idx = append(idx, i)
		}
	}
	for _, name := range features {
		i, ok := active.Index(name)
		if !ok {
			return groupPlan{}, invalid("feature group %q has no feature %q (version %d)", g.Name, clip(name), active.Number)
		}
		if seen == nil {
			seen = make([]bool, len(active.Features))
		}
		if seen[i] {
			return groupPlan{}, invalid("feature group %q: feature %q is asked for twice", g.Name, name)
		}
		seen[i] = true
		idx = append(idx, i)
	}
	all, err := layouts.Layouts(g)
	if err != nil {
		return groupPlan{}, servers.Errorf(codes.Internal, "layouts of %q: %w", g.Name, err)
	}
	proj, err := codec.NewProjection(all[len(all)-1], all, idx)
	if err != nil {
		return groupPlan{}, invalid("feature group %q: %v", g.Name, err)
	}
	gp := groupPlan{group: g, proj: proj, allFP32: true, fp32Off: p.width[classFP32]}
	for _, i := range idx {
		f := &active.Features[i]
		cp := colPlan{class: classOf(f.Type), typ: f.Type, n: max(f.VectorLength, 1), isVec: f.VectorLength > 0}
		col := &featurev1.Column{FeatureGroup: g.Name, Name: f.Name, Type: schema.DataTypeToProto(f.Type),
			VectorLength: uint32(f.VectorLength), Matrix: -1}
		if cp.class == classString {
			cp.off = p.strings
			p.strings += cp.n
		} else {
			cp.off = p.width[cp.class]
			p.width[cp.class] += cp.n
			col.Matrix = int32(cp.class) // renumbered once every group is placed
		}
		col.Offset = uint32(cp.off)
		if cp.class != classFP32 {
			gp.allFP32 = false
		}
		gp.cols = append(gp.cols, cp)
		p.columns = append(p.columns, col)
	}
	if gp.allFP32 && proj.Width() != p.width[classFP32]-gp.fp32Off {
		return groupPlan{}, fmt.Errorf("feature: plan of %q: %d fp32 values, projection has %d", g.Name,
			p.width[classFP32]-gp.fp32Off, proj.Width())
	}
	return gp, nil
}
