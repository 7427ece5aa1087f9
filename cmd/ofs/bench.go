package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ofstack/ofs/internal/loadgen"
	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
	"github.com/ofstack/ofs/servers"
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
	conns        []int
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
	f.IntVar(&o.keys, "keys", 100000, "entity keys to seed")
	f.IntVar(&o.batch, "batch", 100, "keys per Retrieve")
	f.IntVar(&o.features, "features", 50, "fp32 features per key")
	f.IntVar(&o.concurrency, "concurrency", 16, "requests in flight")
	f.IntSliceVar(&o.conns, "conns", []int{1, 4}, "gRPC connections the requests share: each count is measured in turn, in the same run")
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
			for _, n := range o.conns {
				if n < 1 || n > 64 {
					return usageError{fmt.Errorf("--conns %d: from 1 to 64", n)}
				}
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
	serverCPU := func() (time.Duration, error) { return loadgen.ProcessCPU(child.Process.Pid) }
	// OFS_BENCH_CLIENT_CPUPROFILE names a file for a CPU profile of the load
	// generator, the half of the machine that OFS_BENCH_CPUPROFILE leaves out.
	if path := os.Getenv("OFS_BENCH_CLIENT_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var rows []loadgen.Row
	answer := 0
	for _, n := range o.conns {
		r, size, err := benchConns(ctx, o, addr, n, serverCPU)
		if err != nil {
			return err
		}
		answer = size
		r[0].Baseline = len(rows) + 1
		rows = append(rows, r...)
	}
	fmt.Fprintf(g.stdout, "Retrieve of %d keys x %d fp32 features (answer %d bytes), %d keys seeded, concurrency %d, %s each:\n\n",
		o.batch, o.features, answer, o.keys, o.concurrency, o.duration)
	return loadgen.WriteTable(g.stdout, rows, o.batch)
}

// benchConns measures Retrieve, then the echo server, over n connections
// to addr. It returns the two rows and the size of one answer.
func benchConns(ctx context.Context, o *benchOptions, addr string, n int, serverCPU loadgen.CPUFunc) ([]loadgen.Row, int, error) {
	conns := make([]*grpc.ClientConn, n)
	for i := range conns {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(servers.MaxMessageBytes)))
		if err != nil {
			return nil, 0, err
		}
		defer c.Close()
		conns[i] = c
	}
	clients := make([]featurev1.FeatureServiceClient, len(conns))
	for i, c := range conns {
		clients[i] = featurev1.NewFeatureServiceClient(c)
	}
	// The requests are what the SDKs send: keys in compact form, the answer
	// in compact form, and without columns once the first answer gave them.
	// Each worker cycles through batches of random keys made before the
	// clock starts: a model server has its keys at hand, and the echo calls
	// pay for no key picking either.
	const batches = 64
	reqs := make([][]*featurev1.RetrieveRequest, o.concurrency)
	next := make([]int, o.concurrency) // worker w's next batch; only w touches it
	keyText := make([]string, o.keys)
	for i := range keyText {
		keyText[i] = strconv.Itoa(i)
	}
	for w := range reqs {
		rng := rand.New(rand.NewPCG(uint64(w), 42))
		reqs[w] = make([]*featurev1.RetrieveRequest, batches)
		for b := range reqs[w] {
			r := &featurev1.RetrieveRequest{Entity: "bench_user", KeyValues: make([]string, o.batch),
				Groups: []*featurev1.GroupSelection{{FeatureGroup: "bench_fp32"}}, Compact: true}
			for i := range r.KeyValues {
				r.KeyValues[i] = keyText[rng.IntN(o.keys)]
			}
			reqs[w][b] = r
		}
	}
	fill := func(w int) *featurev1.RetrieveRequest {
		r := reqs[w][next[w]]
		next[w] = (next[w] + 1) % batches
		return r
	}
	// The first answer: its columns, and its size for the echo server.
	probe, err := clients[0].Retrieve(ctx, fill(0))
	if err != nil {
		return nil, 0, fmt.Errorf("first Retrieve: %w", err)
	}
	if len(probe.GetColumns()) != o.features {
		return nil, 0, fmt.Errorf("first Retrieve: %d columns for %d features", len(probe.GetColumns()), o.features)
	}
	for _, rs := range reqs {
		for _, r := range rs {
			r.ColumnsRevision = probe.GetRegistryRevision()
		}
	}
	retrieve := func(ctx context.Context, w int) error {
		resp, err := clients[w%len(clients)].Retrieve(ctx, fill(w))
		switch {
		case err != nil:
			return err
		case len(resp.GetFound()) != o.batch:
			return fmt.Errorf("%d found flags for %d keys", len(resp.GetFound()), o.batch)
		case !resp.GetFound()[0]:
			return errors.New("a seeded key was not found: the seeding failed")
		case len(resp.GetColumns()) != 0:
			return errors.New("an answer repeated the columns of the registry revision the bench holds")
		}
		return nil
	}
	answer, err := answerSize(ctx, clients[0], fill(0))
	if err != nil {
		return nil, 0, err
	}
	echoReq := loadgen.EchoRequest(proto.Size(reqs[0][0]), answer)
	echo := func(ctx context.Context, w int) error {
		var resp wrapperspb.BytesValue
		return conns[w%len(conns)].Invoke(ctx, loadgen.EchoMethod, echoReq, &resp)
	}
	// Retrieve and echo take turns in slices of about a second, so that
	// both are measured on the same machine at the same times.
	rounds := max(1, int(o.duration/time.Second))
	rows, err := loadgen.Interleave(ctx, []string{"ofs Retrieve (" + o.store + ", " + o.mode + ")", "gRPC echo, same bytes"},
		n, o.concurrency, o.warmup, o.duration, rounds, []loadgen.Call{retrieve, echo}, serverCPU)
	return rows, answer, err
}

// answerSize is the size of the answer to req as the bench's calls get it.
func answerSize(ctx context.Context, c featurev1.FeatureServiceClient, req *featurev1.RetrieveRequest) (int, error) {
	resp, err := c.Retrieve(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("retrieve: %w", err)
	}
	return proto.Size(resp), nil
}

func newBenchTarget(g *globals) *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:    "target",
		Short:  "The server half of `ofs bench retrieve` (started by it)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := loadgen.Target{Keys: o.keys, Features: o.features, Cache: o.mode == "cache", Kind: o.storeKind(), Open: o.openStore}
			return t.Serve(cmd.Context(), g.stdout)
		},
	}
	o.register(cmd)
	return cmd
}
