package console

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/topics"
)

// entry is one command of the registry topic.
type entry struct {
	Offset  int64
	Time    time.Time
	Actor   string
	Request string
	Kind    string // "store", "entity", "feature group"
	Name    string
	Verb    string // the command's name: ApplyFeatureGroup, SetTtl, ...
	Text    []string
	Bad     string // the command does not decode
	cmd     *registryv1.Command
}

// Object is the kind and name of what the command addresses, for links.
func (e *entry) Object() string { return e.Kind + " " + e.Name }

// history is the registry's commands and their outcomes, as read from the
// registry and results topics.
type history struct {
	mu       sync.RWMutex
	entries  []*entry
	outcomes map[string]*registryv1.Outcome // by request id
}

func newHistory() *history { return &history{outcomes: map[string]*registryv1.Outcome{}} }

// follow reads both topics from their oldest offsets and keeps following
// them; ready is closed once the registry topic was read to the end it had.
func (h *history) follow(ctx context.Context, c sarama.Consumer, names topics.Names, ready chan struct{}) error {
	reg, err := c.ConsumePartition(string(names.Registry), 0, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("history: %s: %w", names.Registry, err)
	}
	defer reg.Close()
	res, err := c.ConsumePartition(string(names.RegistryResults), 0, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("history: %s: %w", names.RegistryResults, err)
	}
	defer res.Close()
	end := reg.HighWaterMarkOffset()
	readyOnce := sync.OnceFunc(func() { close(ready) })
	if end <= 0 {
		readyOnce()
	}
	for {
		select {
		case <-ctx.Done():
			readyOnce()
			return nil
		case m, ok := <-reg.Messages():
			if !ok {
				return errors.New("history: the registry topic's consumer closed")
			}
			h.add(m)
			if m.Offset+1 >= end {
				readyOnce()
			}
		case m, ok := <-res.Messages():
			if !ok {
				return errors.New("history: the results topic's consumer closed")
			}
			var o registryv1.Outcome
			if proto.Unmarshal(m.Value, &o) == nil && o.GetRequestId() != "" {
				h.mu.Lock()
				h.outcomes[o.GetRequestId()] = &o
				h.mu.Unlock()
			}
		case err := <-reg.Errors():
			return fmt.Errorf("history: %w", err)
		case err := <-res.Errors():
			return fmt.Errorf("history: %w", err)
		}
	}
}

func (h *history) add(m *sarama.ConsumerMessage) {
	e := &entry{Offset: m.Offset, Time: m.Timestamp.UTC()}
	var c registryv1.Command
	if err := proto.Unmarshal(m.Value, &c); err != nil {
		e.Bad, e.Kind, e.Name = err.Error(), "undecodable", "command"
	} else {
		e.cmd, e.Actor, e.Request = &c, c.GetActor(), c.GetRequestId()
		e.Kind, e.Name, e.Verb = subject(&c)
		e.Text = render(&c)
	}
	h.mu.Lock()
	h.entries = append(h.entries, e)
	h.mu.Unlock()
}

// subject names the object a command addresses.
func subject(c *registryv1.Command) (kind, name, verb string) {
	switch x := c.GetCommand().(type) {
	case *registryv1.Command_ApplyStore:
		return "store", x.ApplyStore.GetId(), "ApplyStore"
	case *registryv1.Command_DeleteStore:
		return "store", x.DeleteStore.GetId(), "DeleteStore"
	case *registryv1.Command_ApplyEntity:
		return "entity", x.ApplyEntity.GetName(), "ApplyEntity"
	case *registryv1.Command_DeleteEntity:
		return "entity", x.DeleteEntity.GetName(), "DeleteEntity"
	case *registryv1.Command_ApplyFeatureGroup:
		return "feature group", x.ApplyFeatureGroup.GetName(), "ApplyFeatureGroup"
	case *registryv1.Command_DeleteFeatureGroup:
		return "feature group", x.DeleteFeatureGroup.GetName(), "DeleteFeatureGroup"
	case *registryv1.Command_AddFeatures:
		return "feature group", x.AddFeatures.GetFeatureGroup(), "AddFeatures"
	case *registryv1.Command_RemoveFeatures:
		return "feature group", x.RemoveFeatures.GetFeatureGroup(), "RemoveFeatures"
	case *registryv1.Command_SetDefaults:
		return "feature group", x.SetDefaults.GetFeatureGroup(), "SetDefaults"
	case *registryv1.Command_SetTtl:
		return "feature group", x.SetTtl.GetFeatureGroup(), "SetTtl"
	case *registryv1.Command_SetCachePolicy:
		return "feature group", x.SetCachePolicy.GetFeatureGroup(), "SetCachePolicy"
	}
	return "unknown", "command", "unknown"
}

// render writes a command's content as lines for people, one field (or one
// feature) a line, so that two versions of an object diff line by line.
func render(c *registryv1.Command) []string {
	if g := c.GetApplyFeatureGroup(); g != nil {
		lines := []string{
			"entity: " + g.GetEntity(),
			"store: " + g.GetStore(),
		}
		if g.GetId() != 0 { // 0: the registry picks it
			lines = append(lines, fmt.Sprintf("id: %d", g.GetId()))
		}
		lines = append(lines,
			"ttl: "+g.GetTtl().AsDuration().String(),
			fmt.Sprintf("cache: l1=%t l2=%t ttl=%s", g.GetCachePolicy().GetL1(), g.GetCachePolicy().GetL2(),
				g.GetCachePolicy().GetTtl().AsDuration()),
			"description: "+g.GetDescription(),
		)
		lines = append(lines, tagLines(g.GetTags())...)
		for _, f := range g.GetFeatures() {
			lines = append(lines, "feature "+featureLine(f))
		}
		return lines
	}
	if e := c.GetApplyEntity(); e != nil {
		lines := []string{"description: " + e.GetDescription()}
		for _, k := range e.GetKeyColumns() {
			lines = append(lines, "key "+k.GetName()+" "+typeName(k.GetType()))
		}
		return append(lines, tagLines(e.GetTags())...)
	}
	if s := c.GetApplyStore(); s != nil {
		return []string{"kind: " + strings.ToLower(strings.TrimPrefix(s.GetKind().String(), "STORE_KIND_")),
			"connection: " + s.GetConnection()}
	}
	// The fine-grained commands: their fields as protobuf text.
	var body proto.Message
	switch x := c.GetCommand().(type) {
	case *registryv1.Command_AddFeatures:
		var lines []string
		for _, f := range x.AddFeatures.GetFeatures() {
			lines = append(lines, "add feature "+featureLine(f))
		}
		return lines
	case *registryv1.Command_RemoveFeatures:
		return []string{"remove features: " + strings.Join(x.RemoveFeatures.GetNames(), ", ")}
	case *registryv1.Command_SetTtl:
		return []string{"ttl: " + x.SetTtl.GetTtl().AsDuration().String()}
	case *registryv1.Command_SetDefaults:
		body = x.SetDefaults
	case *registryv1.Command_SetCachePolicy:
		body = x.SetCachePolicy
	default:
		return nil
	}
	b, _ := prototext.MarshalOptions{Multiline: true}.Marshal(body)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func tagLines(tags map[string]string) []string {
	keys := slices.Sorted(maps.Keys(tags))
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = "tag " + k + "=" + tags[k]
	}
	return out
}

func featureLine(f *registryv1.Feature) string {
	s := f.GetName() + " " + typeName(f.GetType())
	if n := f.GetVectorLength(); n > 0 {
		s += fmt.Sprintf("[%d]", n)
	}
	s += " default " + valueText(f.GetDefaultValue())
	if d := f.GetDescription(); d != "" {
		s += " -- " + d
	}
	for _, t := range tagLines(f.GetTags()) {
		s += " " + strings.TrimPrefix(t, "tag ")
	}
	return s
}

func typeName(t registryv1.DataType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "DATA_TYPE_"))
}

func valueText(v *registryv1.Value) string {
	switch x := v.GetKind().(type) {
	case *registryv1.Value_BoolValue:
		return fmt.Sprint(x.BoolValue)
	case *registryv1.Value_IntValue:
		return fmt.Sprint(x.IntValue)
	case *registryv1.Value_UintValue:
		return fmt.Sprint(x.UintValue)
	case *registryv1.Value_FloatValue:
		return fmt.Sprint(x.FloatValue)
	case *registryv1.Value_StringValue:
		return fmt.Sprintf("%q", x.StringValue)
	}
	return "(zero)"
}

// outcome says what became of a command: "applied, revision 7", "no
// change", "rejected: ...", or "pending" while no outcome was read.
func (h *history) outcome(e *entry) (text string, ok bool) {
	o := h.outcomes[e.Request]
	switch {
	case e.Bad != "":
		return "does not decode: " + e.Bad, false
	case o == nil:
		return "no outcome read", true
	case o.GetRejected() != nil:
		return "rejected: " + o.GetRejected().GetMessage(), false
	case o.GetApplied().GetNoop():
		return "no change", true
	}
	return fmt.Sprintf("applied, revision %d", o.GetApplied().GetRevision()), true
}

// view is one entry with its outcome and its change from the previous
// applied command of the same object.
type view struct {
	*entry
	Outcome string
	Applied bool
	Prev    *entry
	Diff    []diffLine
}

// list returns the entries, newest first, of the object kind/name (all when
// kind is empty).
func (h *history) list(kind, name string) []view {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []view
	last := map[string]*entry{}
	for _, e := range h.entries {
		v := view{entry: e}
		v.Outcome, v.Applied = h.outcome(e)
		key := e.Kind + "\x00" + e.Name
		if full(e) {
			v.Prev = last[key]
			var before []string
			if v.Prev != nil {
				before = v.Prev.Text
			}
			v.Diff = diff(before, e.Text)
			if v.Applied && !strings.HasPrefix(v.Outcome, "no change") {
				last[key] = e
			}
		} else {
			v.Diff = diff(nil, e.Text)
		}
		if kind == "" || (e.Kind == kind && e.Name == name) {
			out = append(out, v)
		}
	}
	slices.Reverse(out)
	return out
}

// full reports a declarative command: the whole desired state, which diffs
// against the object's previous one.
func full(e *entry) bool {
	return e.Verb == "ApplyFeatureGroup" || e.Verb == "ApplyEntity" || e.Verb == "ApplyStore"
}

// at returns the entry at a topic offset.
func (h *history) at(offset int64) (view, bool) {
	for _, v := range h.list("", "") {
		if v.Offset == offset {
			return v, true
		}
	}
	return view{}, false
}

// diffLine is one line of a diff: Op is ' ', '+' or '-'.
type diffLine struct {
	Op   string
	Text string
}

// diff returns the line diff from a to b (a longest common subsequence;
// the inputs are a few dozen lines).
func diff(a, b []string) []diffLine {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, diffLine{" ", a[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{"-", a[i]})
			i++
		default:
			out = append(out, diffLine{"+", b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, diffLine{"-", a[i]})
	}
	for ; j < m; j++ {
		out = append(out, diffLine{"+", b[j]})
	}
	return out
}
