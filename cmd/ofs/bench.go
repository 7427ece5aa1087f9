package main

import (
	"bufio"
	"context"
	byteorder "encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/loadgen"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers"
	"github.com/ofstack/ofs/servers/feature"
	"github.com/ofstack/ofs/views"
)

// benchOptions are shared by `ofs bench retrieve` and the target process it
// starts.
type benchOptions struct {
	store        string
	redisAddr    string
	redisCluster string
	cassandra    string
	keyPrefix    string
	keyspace     string
	keys         int
	batch        int
	features     int
	concurrency  int
	conns        int
	duration     time.Duration
	warmup       time.Duration
	mode         string
}

func newBench(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load tools: measure ofs on this machine",
	}
	cmd.AddCommand(newBenchRetrieve(g), newBenchTarget(g))
	return cmd
}

func (o *benchOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	o.storeFlags(cmd)
	f.IntVar(&o.keys, "keys", 10000, "entity keys to seed")
	f.IntVar(&o.batch, "batch", 100, "keys per Retrieve")
	f.IntVar(&o.features, "features", 50, "fp32 features per key")
	f.IntVar(&o.concurrency, "concurrency", 16, "requests in flight")
	f.IntVar(&o.conns, "conns", 4, "gRPC connections the requests share")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per mode (at most 10 minutes)")
	f.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before each measurement")
	f.StringVar(&o.mode, "mode", "cache", "where blocks are read from: cache (the L1, warmed with every key first) or store (the store on every request, the L1 off)")
}

func (o *benchOptions) args() []string {
	return append(o.storeArgs(), "--keys", strconv.Itoa(o.keys),
		"--features", strconv.Itoa(o.features), "--mode", o.mode)
}

func newBenchRetrieve(g *globals) *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "retrieve",
		Short: "Seed keys into a store, drive Retrieve at a concurrency, compare with a gRPC echo server",
		Long: "Start a feature server in a child process (a synthetic registry of one entity and one group of\n" +
			"fp32 features over the --store: Redis, a Redis Cluster or Cassandra/ScyllaDB), seed the keys, then drive Retrieve of --batch random keys\n" +
			"from --concurrency goroutines for --duration, and print req/s, keys/s, latency percentiles and the\n" +
			"server's CPU time per request. The same child also serves a gRPC echo method that answers as\n" +
			"many bytes as a Retrieve answer; it is driven the same way, and ofs is shown as a fraction of it.\n" +
			"Only loopback addresses are used.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.duration > 10*time.Minute || o.keys < o.batch || o.batch < 1 || o.features < 1 {
				return usageError{errors.New("need 1 <= batch <= keys, features >= 1, duration <= 10m")}
			}
			if o.mode != "cache" && o.mode != "store" {
				return usageError{fmt.Errorf("--mode %q: cache or store", o.mode)}
			}
			if err := o.checkStore(); err != nil {
				return usageError{err}
			}
			return benchRetrieve(cmd.Context(), g, &o)
		},
	}
	o.register(cmd)
	return cmd
}

func benchRetrieve(ctx context.Context, g *globals, o *benchOptions) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.CommandContext(ctx, self, append([]string{"bench", "target"}, o.args()...)...)
	child.Stderr = g.stderr
	out, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	defer func() {
		_ = child.Process.Kill() // the target serves until killed
		_ = child.Wait()         // reaps it; its exit status is that of the kill
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("bench target did not start: %w", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "READY ")
	if !ok {
		return fmt.Errorf("bench target: %q", line)
	}

	conns := make([]*grpc.ClientConn, o.conns)
	for i := range conns {
		if conns[i], err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(servers.MaxMessageBytes))); err != nil {
			return err
		}
		defer conns[i].Close()
	}
	clients := make([]featurev1.FeatureServiceClient, len(conns))
	for i, c := range conns {
		clients[i] = featurev1.NewFeatureServiceClient(c)
	}
	rngs := make([]*rand.Rand, o.concurrency)
	reqs := make([]*featurev1.RetrieveRequest, o.concurrency)
	for w := range rngs {
		rngs[w] = rand.New(rand.NewPCG(uint64(w), 42))
		reqs[w] = &featurev1.RetrieveRequest{Entity: "bench_user", KeyValues: make([]string, o.batch),
			Groups: []*featurev1.GroupSelection{{FeatureGroup: "bench_fp32"}}}
	}
	fill := func(w int) *featurev1.RetrieveRequest {
		for i := range reqs[w].KeyValues {
			reqs[w].KeyValues[i] = strconv.Itoa(rngs[w].IntN(o.keys))
		}
		return reqs[w]
	}
	retrieve := func(ctx context.Context, w int) error {
		resp, err := clients[w%len(clients)].Retrieve(ctx, fill(w))
		if err == nil && len(resp.GetRows()) != o.batch {
			return fmt.Errorf("%d rows for %d keys", len(resp.GetRows()), o.batch)
		}
		if err == nil && !resp.GetRows()[0].GetFound()[0] {
			return errors.New("a seeded key was not found: the seeding failed")
		}
		return err
	}
	// One answer's size, for the echo server.
	probe, err := clients[0].Retrieve(ctx, fill(0))
	if err != nil {
		return fmt.Errorf("first Retrieve: %w", err)
	}
	answer := proto.Size(probe)
	echoReq := &wrapperspb.BytesValue{Value: make([]byte, proto.Size(reqs[0]))}
	byteorder.LittleEndian.PutUint32(echoReq.Value, uint32(answer))
	echo := func(ctx context.Context, w int) error {
		var resp wrapperspb.BytesValue
		return conns[w%len(conns)].Invoke(ctx, echoMethod, echoReq, &resp)
	}

	type row struct {
		name string
		res  loadgen.Result
		cpu  time.Duration
	}
	var rows []row
	for _, c := range []struct {
		name string
		call loadgen.Call
	}{{"ofs Retrieve (" + o.store + ", " + o.mode + ")", retrieve}, {"gRPC echo, same bytes", echo}} {
		if _, err := loadgen.Run(ctx, o.concurrency, o.warmup, c.call); err != nil {
			return err
		}
		cpu0, err := processCPU(child.Process.Pid)
		if err != nil {
			return err
		}
		res, err := loadgen.Run(ctx, o.concurrency, o.duration, c.call)
		if err != nil {
			return err
		}
		cpu1, err := processCPU(child.Process.Pid)
		if err != nil {
			return err
		}
		if res.Errors > 0 {
			return fmt.Errorf("%s: %d of %d requests failed, first: %w", c.name, res.Errors, res.Errors+res.Requests, res.FirstErr)
		}
		rows = append(rows, row{c.name, res, cpu1 - cpu0})
	}

	fmt.Fprintf(g.stdout, "Retrieve of %d keys x %d fp32 features (answer %d bytes), %d keys seeded, concurrency %d over %d connections, %s each:\n\n",
		o.batch, o.features, answer, o.keys, o.concurrency, o.conns, o.duration)
	w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\treq/s\tkeys/s\tp50\tp90\tp99\tp99.9\tserver CPU/req\t")
	for _, r := range rows {
		per := time.Duration(0)
		if r.res.Requests > 0 {
			per = r.cpu / time.Duration(r.res.Requests)
		}
		fmt.Fprintf(w, "%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", r.name, r.res.Rate(), r.res.Rate()*float64(o.batch),
			r.res.Percentile(0.5).Round(time.Microsecond), r.res.Percentile(0.9).Round(time.Microsecond),
			r.res.Percentile(0.99).Round(time.Microsecond), r.res.Percentile(0.999).Round(time.Microsecond),
			per.Round(time.Microsecond))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(rows) == 2 && rows[1].res.Rate() > 0 {
		fmt.Fprintf(g.stdout, "\nofs serves %.0f%% of the echo server's rate.\n", 100*rows[0].res.Rate()/rows[1].res.Rate())
	}
	return nil
}

// processCPU returns the user+system CPU time of a process, from /proc.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("server CPU time: %w", err)
	}
	// The command name (field 2) may hold spaces; fields count from its ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("server CPU time: short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("server CPU time: %w", err)
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond, nil
}

const echoMethod = "/ofs.bench.Echo/Echo"

// echoService answers a BytesValue whose first four bytes give the size of
// the answer: a gRPC server doing no work but moving the same bytes.
var echoService = grpc.ServiceDesc{
	ServiceName: "ofs.bench.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var in wrapperspb.BytesValue
			if err := dec(&in); err != nil {
				return nil, err
			}
			if len(in.GetValue()) < 4 {
				return nil, errors.New("echo: no size")
			}
			return &wrapperspb.BytesValue{Value: make([]byte, byteorder.LittleEndian.Uint32(in.GetValue()))}, nil
		},
	}},
}

func newBenchTarget(g *globals) *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:    "target",
		Short:  "The server half of `ofs bench retrieve` (started by it)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchTarget(cmd.Context(), g, &o)
		},
	}
	o.register(cmd)
	return cmd
}

func benchTarget(ctx context.Context, g *globals, o *benchOptions) error {
	features := make([]schema.Feature, o.features)
	for i := range features {
		features[i] = schema.Feature{Name: fmt.Sprintf("f%03d", i), Type: schema.FP32}
	}
	reg := schema.NewRegistry()
	at := time.Now()
	for i, c := range []schema.Command{
		schema.ApplyStore{ID: "bench", Kind: o.storeKind(), Connection: "bench"},
		schema.ApplyEntity{Name: "bench_user", Keys: []schema.KeyColumn{{Name: "id", Type: schema.Int64}}},
		schema.ApplyFeatureGroup{Name: "bench_fp32", Entity: "bench_user", ID: 1, Store: "bench", Features: features},
	} {
		var err error
		if reg, _, err = reg.Apply(schema.Request{ID: strconv.Itoa(i), Actor: "bench", Command: c}, at); err != nil {
			return err
		}
	}
	store, err := o.openStore(reg)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := seed(ctx, store, reg, o); err != nil {
		return err
	}
	holder := schema.NewHolder(schema.NewSnapshot(reg))
	var reader feature.Reader = store
	if o.mode == "cache" {
		cache, err := views.NewCache(views.CacheMemory(1 << 30))
		if err != nil {
			return err
		}
		defer cache.Close()
		tiered := cache.Tiered(store).Reader(func(uint32) schema.CachePolicy {
			return schema.CachePolicy{L1: true, TTL: time.Hour}
		})
		if err := warm(ctx, tiered, o); err != nil {
			return err
		}
		reader = tiered
	}
	srv := feature.New(holder, func(string) (feature.Reader, error) { return reader, nil })
	gs, _ := servers.NewGRPC(slogDiscard())
	featurev1.RegisterFeatureServiceServer(gs, srv)
	gs.RegisterService(&echoService, nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if path := os.Getenv("OFS_BENCH_CPUPROFILE"); path != "" { // a profile of the server half, for whoever tunes it
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		go func() {
			time.Sleep(8 * time.Second)
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	fmt.Fprintf(g.stdout, "READY %s\n", lis.Addr())
	go func() {
		<-ctx.Done()
		gs.Stop()
	}()
	return gs.Serve(lis)
}

// warm reads every key once through the cache, so that every request of
// the measurement is an L1 hit.
func warm(ctx context.Context, r feature.Reader, o *benchOptions) error {
	keys := make([]views.Key, 0, 1000)
	for k := range o.keys {
		keys = append(keys, views.Key{Entity: "bench_user", Values: []string{strconv.Itoa(k)}})
		if len(keys) == cap(keys) || k == o.keys-1 {
			if _, err := r.Read(ctx, keys, []uint32{1}); err != nil {
				return fmt.Errorf("warm the cache: %w", err)
			}
			keys = keys[:0]
		}
	}
	return nil
}

// seed writes one block per key, 1000 per Write.
func seed(ctx context.Context, store views.Store, reg *schema.Registry, o *benchOptions) error {
	g, _ := reg.FeatureGroup("bench_fp32")
	l, err := blocks.NewLayout(g.Active())
	if err != nil {
		return err
	}
	b := codec.NewBuilder(l)
	vals := make([]float32, o.features)
	now := time.Now().UnixMicro()
	batch := make([]views.Block, 0, 1000)
	for k := range o.keys {
		for i := range vals {
			vals[i] = float32(k) + float32(i)/1000
		}
		b.Reset()
		b.SetFloat32Columns(0, vals)
		data, err := b.Append(nil, now, codec.NeverExpires)
		if err != nil {
			return err
		}
		batch = append(batch, views.Block{Key: views.Key{Entity: "bench_user", Values: []string{strconv.Itoa(k)}},
			Group: g.ID, Data: data, EventTime: now})
		if len(batch) == cap(batch) || k == o.keys-1 {
			if err := store.Write(ctx, batch); err != nil {
				return fmt.Errorf("seed: %w", err)
			}
			batch = batch[:0]
		}
	}
	return nil
}
