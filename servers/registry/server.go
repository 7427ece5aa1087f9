// Package registry serves RegistryService: Apply publishes commands on the
// registry topic and waits for the registry processor's outcome of each;
// the reads answer from the snapshot that the registry's etcd copy
// (views/registrycopy) keeps current.
package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	processor "github.com/ofstack/ofs/processors/registry"
	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers"
	"github.com/ofstack/ofs/topics"
)

const (
	// DefaultApplyTimeout bounds an Apply whose caller set no deadline.
	DefaultApplyTimeout = 30 * time.Second
	defaultPageSize     = 100
	maxPageSize         = 1000
	maxCommands         = 1000
)

// Server implements RegistryService.
type Server struct {
	registryv1.UnimplementedRegistryServiceServer

	names    topics.Names
	holder   *schema.Holder
	producer sarama.SyncProducer
	log      *slog.Logger

	mu      sync.Mutex
	waiters map[string][]*waiter // by request id, in the order they began
}

// waiter is one command of an Apply waiting for its outcome. Outcomes are
// matched by request id and the command's offset (HeaderCommandOffset), so
// that two commands of one id, in one Apply or in two, each get their own.
type waiter struct {
	offset int64 // the command's offset on the registry topic; -1 until it is published
	ch     chan *registryv1.Outcome
	early  []early // outcomes of the id that came before the offset was known
}

type early struct {
	offset int64
	out    *registryv1.Outcome
}

// New returns a server that publishes commands with producer and reads the
// snapshot in holder. Run must be running for Apply to hear outcomes.
func New(names topics.Names, holder *schema.Holder, producer sarama.SyncProducer, log *slog.Logger) *Server {
	return &Server{names: names, holder: holder, producer: producer, log: log,
		waiters: map[string][]*waiter{}}
}

// Run follows the results topic from its end and hands every outcome to the
// Apply call waiting for it, until ctx is done. It returns once it is
// positioned, through ready, before following.
func (s *Server) Run(ctx context.Context, consumer sarama.Consumer, ready func()) error {
	pc, err := consumer.ConsumePartition(string(s.names.RegistryResults), 0, sarama.OffsetNewest)
	if err != nil {
		return fmt.Errorf("registry server: follow %s: %w", s.names.RegistryResults, err)
	}
	defer pc.Close()
	if ready != nil {
		ready()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-pc.Errors():
			s.log.Warn("reading registry results", "err", err)
		case m, ok := <-pc.Messages():
			if !ok {
				return fmt.Errorf("registry server: %s closed", s.names.RegistryResults)
			}
			out := new(registryv1.Outcome)
			if err := proto.Unmarshal(m.Value, out); err != nil {
				s.log.Warn("undecodable registry outcome", "offset", m.Offset, "err", err)
				continue
			}
			s.deliver(out, commandOffset(m.Headers))
		}
	}
}

// commandOffset returns the command offset an outcome names, or -1 (an
// outcome of an older processor).
func commandOffset(hs []*sarama.RecordHeader) int64 {
	for _, h := range hs {
		if h != nil && string(h.Key) == topics.HeaderCommandOffset {
			if off, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				return off
			}
		}
	}
	return -1
}

// deliver hands an outcome to the waiter of its request id and command
// offset; one that does not know its offset yet keeps it for later. An
// outcome without an offset goes to the id's oldest waiter. Outcomes nobody
// waits for (another server's, a redelivered command's second answer) are
// dropped.
func (s *Server) deliver(out *registryv1.Outcome, offset int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := out.GetRequestId()
	ws := s.waiters[id]
	for i, w := range ws {
		if offset < 0 || w.offset == offset {
			w.ch <- out // buffered, and each waiter is answered once
			s.remove(id, i)
			return
		}
	}
	for _, w := range ws {
		if w.offset < 0 {
			w.early = append(w.early, early{offset, out})
		}
	}
}

// remove drops the i-th waiter of id (locked).
func (s *Server) remove(id string, i int) {
	ws := slices.Delete(slices.Clone(s.waiters[id]), i, i+1)
	if len(ws) == 0 {
		delete(s.waiters, id)
		return
	}
	s.waiters[id] = ws
}

func (s *Server) wait(id string) *waiter {
	w := &waiter{offset: -1, ch: make(chan *registryv1.Outcome, 1)}
	s.mu.Lock()
	s.waiters[id] = append(s.waiters[id], w)
	s.mu.Unlock()
	return w
}

// published sets the offset of w's command, and answers w if its outcome
// came already.
func (s *Server) published(id string, w *waiter, offset int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.offset = offset
	for _, e := range w.early {
		if e.offset == offset {
			if i := slices.Index(s.waiters[id], w); i >= 0 {
				w.ch <- e.out
				s.remove(id, i)
			}
			break
		}
	}
	w.early = nil
}

func (s *Server) forget(id string, w *waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.waiters[id], w); i >= 0 {
		s.remove(id, i)
	}
}

// Apply publishes the commands, in order, and returns the outcome of each.
// Commands are applied one by one, not as a transaction: an outcome says for
// each whether it was applied. A dry run checks them against the current
// snapshot and publishes nothing.
func (s *Server) Apply(ctx context.Context, req *registryv1.ApplyRequest) (*registryv1.ApplyResponse, error) {
	resp, err := s.apply(ctx, req)
	return resp, servers.Status(err)
}

func (s *Server) apply(ctx context.Context, req *registryv1.ApplyRequest) (*registryv1.ApplyResponse, error) {
	cmds := req.GetCommands()
	if len(cmds) == 0 || len(cmds) > maxCommands {
		return nil, servers.Errorf(codes.InvalidArgument, "registry: an apply carries 1 to %d commands, got %d", maxCommands, len(cmds))
	}
	actor := callerActor(ctx)
	cmds = prepare(cmds, actor)
	if req.GetDryRun() {
		return dryRun(s.holder.Load().Registry(), cmds), nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultApplyTimeout)
		defer cancel()
	}

	waits := make([]*waiter, len(cmds))
	msgs := make([]*sarama.ProducerMessage, len(cmds))
	for i, c := range cmds {
		b, err := proto.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("registry: marshal command: %w", err)
		}
		id, w := c.GetRequestId(), s.wait(c.GetRequestId())
		waits[i] = w
		defer s.forget(id, w)
		msgs[i] = &sarama.ProducerMessage{Topic: string(s.names.Registry),
			Key: sarama.StringEncoder(processor.Key), Value: sarama.ByteEncoder(b)}
	}
	if err := s.producer.SendMessages(msgs); err != nil {
		return nil, servers.Code(codes.Unavailable, fmt.Errorf("registry: publish commands: %w", err))
	}
	for i, m := range msgs {
		s.published(cmds[i].GetRequestId(), waits[i], m.Offset)
	}
	resp := &registryv1.ApplyResponse{Outcomes: make([]*registryv1.Outcome, len(cmds))}
	for i, w := range waits {
		select {
		case out := <-w.ch:
			resp.Outcomes[i] = out
		case <-ctx.Done():
			return nil, fmt.Errorf("registry: waiting for the outcome of %s (the command is published and will be applied): %w",
				cmds[i].GetRequestId(), ctx.Err())
		}
	}
	resp.Revision = lastRevision(resp.Outcomes)
	// Answer only once this server's snapshot includes the change, so that a
	// Get right after Apply sees it.
	if _, err := s.holder.Wait(ctx, resp.Revision); err != nil {
		return nil, fmt.Errorf("registry: waiting for revision %d in etcd: %w", resp.Revision, err)
	}
	return resp, nil
}

// prepare fills in request ids and the actor, on copies.
func prepare(cmds []*registryv1.Command, actor string) []*registryv1.Command {
	out := make([]*registryv1.Command, len(cmds))
	for i, c := range cmds {
		c = proto.CloneOf(c)
		if c.GetRequestId() == "" {
			c.RequestId = newRequestID()
		}
		if c.GetActor() == "" {
			c.Actor = actor
		}
		out[i] = c
	}
	return out
}

func dryRun(r *schema.Registry, cmds []*registryv1.Command) *registryv1.ApplyResponse {
	resp := &registryv1.ApplyResponse{}
	now := time.Now()
	for _, c := range cmds {
		var out *registryv1.Outcome
		r, out = r.ApplyProto(c, now)
		resp.Outcomes = append(resp.Outcomes, out)
	}
	resp.Revision = r.Revision()
	return resp
}

func lastRevision(outs []*registryv1.Outcome) uint64 {
	var rev uint64
	for _, o := range outs {
		if a := o.GetApplied(); a != nil {
			rev = max(rev, a.GetRevision())
		}
	}
	return rev
}

func callerActor(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return "grpc:" + p.Addr.String()
	}
	return "grpc"
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// GetRegistry returns the whole registry.
func (s *Server) GetRegistry(context.Context, *registryv1.GetRegistryRequest) (*registryv1.GetRegistryResponse, error) {
	return &registryv1.GetRegistryResponse{Registry: s.holder.Load().Registry().ToProto()}, nil
}

// GetStore returns one store.
func (s *Server) GetStore(_ context.Context, req *registryv1.GetStoreRequest) (*registryv1.GetStoreResponse, error) {
	snap := s.holder.Load()
	st, ok := snap.Store(req.GetId())
	if !ok {
		return nil, servers.Status(servers.Errorf(codes.NotFound, "registry: no store %q", req.GetId()))
	}
	return &registryv1.GetStoreResponse{Store: st.ToProto(), Revision: snap.Revision()}, nil
}

// ListStores returns every store.
func (s *Server) ListStores(context.Context, *registryv1.ListStoresRequest) (*registryv1.ListStoresResponse, error) {
	snap := s.holder.Load()
	resp := &registryv1.ListStoresResponse{Revision: snap.Revision()}
	for _, st := range snap.Registry().Stores() {
		resp.Stores = append(resp.Stores, st.ToProto())
	}
	return resp, nil
}

// GetEntity returns one entity.
func (s *Server) GetEntity(_ context.Context, req *registryv1.GetEntityRequest) (*registryv1.GetEntityResponse, error) {
	snap := s.holder.Load()
	e, ok := snap.Entity(req.GetName())
	if !ok {
		return nil, servers.Status(servers.Errorf(codes.NotFound, "registry: no entity %q", req.GetName()))
	}
	return &registryv1.GetEntityResponse{Entity: e.ToProto(), Revision: snap.Revision()}, nil
}

// ListEntities returns the entities by name, a page at a time.
func (s *Server) ListEntities(_ context.Context, req *registryv1.ListEntitiesRequest) (*registryv1.ListEntitiesResponse, error) {
	snap := s.holder.Load()
	all := snap.Registry().Entities()
	page, next, err := paginate(len(all), func(i int) string { return all[i].Name }, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, servers.Status(err)
	}
	resp := &registryv1.ListEntitiesResponse{NextPageToken: next, Revision: snap.Revision()}
	for _, i := range page {
		resp.Entities = append(resp.Entities, all[i].ToProto())
	}
	return resp, nil
}

// GetFeatureGroup returns one feature group, by name or id.
func (s *Server) GetFeatureGroup(_ context.Context, req *registryv1.GetFeatureGroupRequest) (*registryv1.GetFeatureGroupResponse, error) {
	snap := s.holder.Load()
	var (
		g  *schema.FeatureGroup
		ok bool
	)
	switch sel := req.GetSelector().(type) {
	case *registryv1.GetFeatureGroupRequest_Name:
		g, ok = snap.FeatureGroup(sel.Name)
	case *registryv1.GetFeatureGroupRequest_Id:
		g, ok = snap.FeatureGroupByID(sel.Id)
	default:
		return nil, servers.Status(servers.Errorf(codes.InvalidArgument, "registry: name or id is required"))
	}
	if !ok {
		return nil, servers.Status(servers.Errorf(codes.NotFound, "registry: no feature group %v", req.GetSelector()))
	}
	p := g.ToProto()
	if req.GetActiveVersionOnly() && len(p.Versions) > 0 {
		p.Versions = p.Versions[len(p.Versions)-1:]
	}
	return &registryv1.GetFeatureGroupResponse{FeatureGroup: p, Revision: snap.Revision()}, nil
}

// ListFeatureGroups returns feature groups by name, each with its active
// version only, a page at a time.
func (s *Server) ListFeatureGroups(_ context.Context, req *registryv1.ListFeatureGroupsRequest) (*registryv1.ListFeatureGroupsResponse, error) {
	snap := s.holder.Load()
	var all []*schema.FeatureGroup
	if req.GetEntity() != "" {
		all = snap.FeatureGroupsOf(req.GetEntity())
	} else {
		all = snap.Registry().FeatureGroups()
	}
	page, next, err := paginate(len(all), func(i int) string { return all[i].Name }, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, servers.Status(err)
	}
	resp := &registryv1.ListFeatureGroupsResponse{NextPageToken: next, Revision: snap.Revision()}
	for _, i := range page {
		p := all[i].ToProto()
		if len(p.Versions) > 0 {
			p.Versions = p.Versions[len(p.Versions)-1:]
		}
		resp.FeatureGroups = append(resp.FeatureGroups, p)
	}
	return resp, nil
}

// paginate picks the indexes of one page of n items sorted by name: the
// token is the last name of the previous page.
func paginate(n int, name func(int) string, size int32, token string) ([]int, string, error) {
	if size < 0 {
		return nil, "", servers.Errorf(codes.InvalidArgument, "registry: negative page size %d", size)
	}
	if size == 0 {
		size = defaultPageSize
	}
	size = min(size, maxPageSize)
	start := 0
	if token != "" {
		after, err := strconv.Unquote(token)
		if err != nil {
			return nil, "", servers.Errorf(codes.InvalidArgument, "registry: bad page token")
		}
		start = sort.Search(n, func(i int) bool { return name(i) > after })
	}
	end := min(n, start+int(size))
	page := make([]int, 0, end-start)
	for i := start; i < end; i++ {
		page = append(page, i)
	}
	next := ""
	if end < n {
		next = strconv.Quote(name(end - 1))
	}
	return page, next, nil
}

// Watch streams the whole registry each time it changes: at once when
// start_revision is 0, else once the registry is past start_revision.
func (s *Server) Watch(req *registryv1.WatchRequest, stream registryv1.RegistryService_WatchServer) error {
	rev := req.GetStartRevision()
	for first := true; ; first = false {
		snap := s.holder.Load()
		if !first || rev > 0 {
			var err error
			if snap, err = s.holder.Wait(stream.Context(), rev+1); err != nil {
				return servers.Status(err)
			}
		}
		if err := stream.Send(&registryv1.WatchResponse{Registry: snap.Registry().ToProto()}); err != nil {
			return err
		}
		rev = snap.Revision()
	}
}

// Roles are who may call RegistryService: Apply writers, the rest readers.
func Roles() servers.Roles {
	return servers.Roles{
		registryv1.RegistryService_Apply_FullMethodName:             servers.Writer,
		registryv1.RegistryService_GetRegistry_FullMethodName:       servers.Reader,
		registryv1.RegistryService_GetStore_FullMethodName:          servers.Reader,
		registryv1.RegistryService_ListStores_FullMethodName:        servers.Reader,
		registryv1.RegistryService_GetEntity_FullMethodName:         servers.Reader,
		registryv1.RegistryService_ListEntities_FullMethodName:      servers.Reader,
		registryv1.RegistryService_GetFeatureGroup_FullMethodName:   servers.Reader,
		registryv1.RegistryService_ListFeatureGroups_FullMethodName: servers.Reader,
		registryv1.RegistryService_Watch_FullMethodName:             servers.Reader,
	}
}
