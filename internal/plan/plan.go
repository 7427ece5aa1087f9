package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"

	"google.golang.org/grpc"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// ErrRejected is returned when the registry refused part of a file.
var ErrRejected = errors.New("plan: the registry rejected the change")

// Registry is what planning and applying need of the registry service;
// registryv1.RegistryServiceClient is one.
type Registry interface {
	GetRegistry(ctx context.Context, in *registryv1.GetRegistryRequest, opts ...grpc.CallOption) (*registryv1.GetRegistryResponse, error)
	Apply(ctx context.Context, in *registryv1.ApplyRequest, opts ...grpc.CallOption) (*registryv1.ApplyResponse, error)
}

// Apply prints to out the plan of cmds (the commands of the file named
// file) against the registry's current state: what is added (+), what
// changes (~, with the version it makes) and what would be rejected (!, the
// object, the feature and the rule). Unless dryRun or something would be
// rejected, it then applies the commands that change something, each only if
// its object is unchanged since the plan, and prints the outcome. actor is
// recorded in the commands (see CurrentActor). It returns ErrRejected when
// the registry refused a command.
func Apply(ctx context.Context, out io.Writer, client Registry, file string,
	cmds []*registryv1.Command, dryRun bool, actor string,
) error {
	cur, err := client.GetRegistry(ctx, &registryv1.GetRegistryRequest{})
	if err != nil {
		return fmt.Errorf("read the registry: %w", err)
	}
	st := indexRegistry(cur.GetRegistry())
	for _, c := range cmds {
		rev, _ := st.modRevision(c)
		c.ExpectedRevision = &rev // 0 when absent: create only
		c.Actor = actor
	}

	plan, err := client.Apply(ctx, &registryv1.ApplyRequest{Commands: cmds, DryRun: true})
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	changes, rejected := 0, 0
	fmt.Fprintf(out, "Plan for %s against registry revision %d:\n", file, cur.GetRegistry().GetRevision())
	for i, o := range plan.GetOutcomes() {
		line, kind := describe(st, cmds[i], o)
		switch kind {
		case '=':
			continue
		case '!':
			rejected++
		default:
			changes++
		}
		fmt.Fprintln(out, line)
	}
	switch {
	case rejected > 0:
		fmt.Fprintf(out, "%d of %d objects would be rejected; nothing was applied.\n", rejected, len(cmds))
		return ErrRejected
	case changes == 0:
		fmt.Fprintf(out, "  (no changes)\nNothing to do: the registry already matches %s.\n", file)
		return nil
	case dryRun:
		fmt.Fprintf(out, "%d objects would change. Dry run: nothing was applied.\n", changes)
		return nil
	}

	var todo []*registryv1.Command
	for i, o := range plan.GetOutcomes() {
		if !o.GetApplied().GetNoop() {
			todo = append(todo, cmds[i])
		}
	}
	resp, err := client.Apply(ctx, &registryv1.ApplyRequest{Commands: todo})
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	failed := 0
	fmt.Fprintln(out, "Applied:")
	for i, o := range resp.GetOutcomes() {
		line, kind := describe(st, todo[i], o)
		if kind == '!' {
			failed++
			if o.GetRejected().GetCode() == registryv1.RejectCode_REJECT_CODE_STALE_REVISION {
				line += "\n    (changed by someone else since the plan: run ofs apply again)"
			}
		}
		fmt.Fprintln(out, line)
	}
	fmt.Fprintf(out, "Registry revision %d.\n", resp.GetRevision())
	if failed > 0 {
		return ErrRejected
	}
	return nil
}

// CurrentActor names the user and host running this process, as `ofs
// apply` records them in its commands.
func CurrentActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return "ofs-apply:" + name + "@" + host
}

// registryIndex finds objects of the current registry by name.
type registryIndex struct {
	stores   map[string]*registryv1.Store
	entities map[string]*registryv1.Entity
	groups   map[string]*registryv1.FeatureGroup
}

func indexRegistry(r *registryv1.Registry) registryIndex {
	ix := registryIndex{map[string]*registryv1.Store{}, map[string]*registryv1.Entity{}, map[string]*registryv1.FeatureGroup{}}
	for _, s := range r.GetStores() {
		ix.stores[s.GetId()] = s
	}
	for _, e := range r.GetEntities() {
		ix.entities[e.GetName()] = e
	}
	for _, g := range r.GetFeatureGroups() {
		ix.groups[g.GetName()] = g
	}
	return ix
}

// modRevision returns the mod revision of the object a command addresses,
// 0 when it does not exist.
func (ix registryIndex) modRevision(c *registryv1.Command) (uint64, bool) {
	var m *registryv1.ObjectMeta
	switch x := c.GetCommand().(type) {
	case *registryv1.Command_ApplyStore:
		if s, ok := ix.stores[x.ApplyStore.GetId()]; ok {
			m = s.GetMeta()
		}
	case *registryv1.Command_ApplyEntity:
		if e, ok := ix.entities[x.ApplyEntity.GetName()]; ok {
			m = e.GetMeta()
		}
	case *registryv1.Command_ApplyFeatureGroup:
		if g, ok := ix.groups[x.ApplyFeatureGroup.GetName()]; ok {
			m = g.GetMeta()
		}
	}
	if m == nil {
		return 0, false
	}
	return m.GetModRevision(), true
}

// describe renders one outcome as a plan line: '+' new, '~' changed, '='
// unchanged, '!' rejected.
func describe(ix registryIndex, c *registryv1.Command, o *registryv1.Outcome) (string, byte) {
	var what, name string
	_, exists := ix.modRevision(c)
	switch x := c.GetCommand().(type) {
	case *registryv1.Command_ApplyStore:
		what, name = "store", x.ApplyStore.GetId()
	case *registryv1.Command_ApplyEntity:
		what, name = "entity", x.ApplyEntity.GetName()
	case *registryv1.Command_ApplyFeatureGroup:
		what, name = "feature group", x.ApplyFeatureGroup.GetName()
	}
	if r := o.GetRejected(); r != nil {
		return fmt.Sprintf("  ! %s %s: %s", what, name, r.GetMessage()), '!'
	}
	a := o.GetApplied()
	if a.GetNoop() {
		return fmt.Sprintf("  = %s %s", what, name), '='
	}
	detail := ""
	if ag := c.GetApplyFeatureGroup(); ag != nil {
		detail = groupChange(ix.groups[name], ag, a)
	}
	if !exists {
		return fmt.Sprintf("  + %s %s%s", what, name, detail), '+'
	}
	return fmt.Sprintf("  ~ %s %s%s", what, name, detail), '~'
}

// groupChange says which version a group change makes and which features it
// adds and removes.
func groupChange(cur *registryv1.FeatureGroup, want *registryv1.ApplyFeatureGroup, a *registryv1.Outcome_Applied) string {
	if cur == nil {
		return fmt.Sprintf(" (id %d, version %d, %d features)", a.GetFeatureGroupId(), a.GetFeatureGroupVersion(), len(want.GetFeatures()))
	}
	vs := cur.GetVersions()
	active := vs[len(vs)-1]
	if a.GetFeatureGroupVersion() == active.GetNumber() {
		return " (settings only, version stays " + fmt.Sprint(active.GetNumber()) + ")"
	}
	had := map[string]bool{}
	for _, f := range active.GetFeatures() {
		had[f.GetName()] = true
	}
	var added, removed []string
	wants := map[string]bool{}
	for _, f := range want.GetFeatures() {
		wants[f.GetName()] = true
		if !had[f.GetName()] {
			added = append(added, f.GetName())
		}
	}
	for _, f := range active.GetFeatures() {
		if !wants[f.GetName()] {
			removed = append(removed, f.GetName())
		}
	}
	s := fmt.Sprintf(" (version %d -> %d", active.GetNumber(), a.GetFeatureGroupVersion())
	if len(added) > 0 {
		s += fmt.Sprintf(", + %v", added)
	}
	if len(removed) > 0 {
		s += fmt.Sprintf(", - %v", removed)
	}
	if len(added) == 0 && len(removed) == 0 {
		s += ", defaults or order"
	}
	return s + ")"
}
