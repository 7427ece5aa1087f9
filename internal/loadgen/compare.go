package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Row is one measured scenario of a comparison: its name, the connections
// its calls shared, what Run measured, and the CPU time the server and this
// process (the client) spent during the measurement.
type Row struct {
	Name      string
	Conns     int
	Result    Result
	ServerCPU time.Duration
	ClientCPU time.Duration
	// Baseline is the index in the table of the row this one is shown as a
	// fraction of, or -1.
	Baseline int
}

// perRequest divides d over the row's successful requests.
func (r *Row) perRequest(d time.Duration) time.Duration {
	if r.Result.Requests == 0 {
		return 0
	}
	return d / time.Duration(r.Result.Requests)
}

// CPUFunc returns a process's CPU time so far (user and system).
type CPUFunc func() (time.Duration, error)

// Measure runs call for warmup unmeasured (none when 0), then for duration, and returns
// the row with the server's CPU time (from server) and this process's over
// the measurement. A failed request fails the measurement.
func Measure(ctx context.Context, name string, conns, concurrency int, warmup, duration time.Duration, call Call, server CPUFunc) (Row, error) {
	if warmup > 0 {
		if _, err := Run(ctx, concurrency, warmup, call); err != nil {
			return Row{}, err
		}
	}
	cpu := func() (srv, self time.Duration, err error) {
		if srv, err = server(); err == nil {
			self, err = SelfCPU()
		}
		return srv, self, err
	}
	s0, c0, err := cpu()
	if err != nil {
		return Row{}, err
	}
	res, err := Run(ctx, concurrency, duration, call)
	if err != nil {
		return Row{}, err
	}
	s1, c1, err := cpu()
	if err != nil {
		return Row{}, err
	}
	if res.Errors > 0 {
		return Row{}, fmt.Errorf("%s: %d of %d requests failed, first: %w", name, res.Errors, res.Errors+res.Requests, res.FirstErr)
	}
	return Row{Name: name, Conns: conns, Result: res, ServerCPU: s1 - s0, ClientCPU: c1 - c0, Baseline: -1}, nil
}

// Interleave measures calls side by side over the same time: after a
// warm-up of each, it runs them in turn, a slice of duration/rounds each,
// rounds times, and sums each call's slices into its row (named by names).
// Measured one after the other, two calls each see what else the machine
// did at their own time (a neighbour's burst on a shared host can slow one
// and not the other); alternating in short slices, both see the same
// machine, so their ratio holds from one run to the next.
func Interleave(ctx context.Context, names []string, conns, concurrency int, warmup, duration time.Duration, rounds int, calls []Call, server CPUFunc) ([]Row, error) {
	if len(names) != len(calls) || rounds < 1 {
		return nil, fmt.Errorf("loadgen: %d names for %d calls, %d rounds", len(names), len(calls), rounds)
	}
	for _, call := range calls {
		if _, err := Run(ctx, concurrency, warmup, call); err != nil {
			return nil, err
		}
	}
	rows := make([]Row, len(calls))
	for i := range rows {
		rows[i] = Row{Name: names[i], Conns: conns, Baseline: -1}
	}
	slice := max(duration/time.Duration(rounds), time.Millisecond)
	for range rounds {
		for i, call := range calls {
			r, err := Measure(ctx, names[i], conns, concurrency, 0, slice, call, server)
			if err != nil {
				return nil, err
			}
			rows[i].add(r)
		}
	}
	for i := range rows {
		slices.Sort(rows[i].Result.latencies)
	}
	return rows, nil
}

// add sums o, a slice of the same measurement, into r; the latencies are
// left for the caller to sort.
func (r *Row) add(o Row) {
	r.Result.Requests += o.Result.Requests
	r.Result.Errors += o.Result.Errors
	r.Result.Elapsed += o.Result.Elapsed
	r.Result.latencies = append(r.Result.latencies, o.Result.latencies...)
	if r.Result.FirstErr == nil {
		r.Result.FirstErr = o.Result.FirstErr
	}
	r.ServerCPU += o.ServerCPU
	r.ClientCPU += o.ClientCPU
}

// WriteTable prints rows: rate, keys/s (batch keys a request), latency
// percentiles, CPU per request of the server and of the client, and the
// rate as a percentage of the row's baseline.
func WriteTable(out io.Writer, rows []Row, batch int) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\tconns\treq/s\tkeys/s\tp50\tp90\tp99\tp99.9\tserver CPU/req\tclient CPU/req\tof echo\t")
	for i := range rows {
		r := &rows[i]
		us := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
		ratio := ""
		if b := r.Baseline; b >= 0 && b < len(rows) && rows[b].Result.Rate() > 0 {
			ratio = fmt.Sprintf("%.0f%%", 100*r.Result.Rate()/rows[b].Result.Rate())
		}
		fmt.Fprintf(w, "%s\t%d\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, r.Conns, r.Result.Rate(),
			r.Result.Rate()*float64(batch), us(r.Result.Percentile(0.5)), us(r.Result.Percentile(0.9)),
			us(r.Result.Percentile(0.99)), us(r.Result.Percentile(0.999)),
			us(r.perRequest(r.ServerCPU)), us(r.perRequest(r.ClientCPU)), ratio)
	}
	return w.Flush()
}

// SelfCPU returns this process's user+system CPU time, from getrusage.
func SelfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("loadgen: client CPU time: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// ProcessCPU returns the user+system CPU time of process pid, from /proc.
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("loadgen: server CPU time: %w", err)
	}
	// The command name (field 2) may hold spaces; fields count from its ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("loadgen: server CPU time: short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("loadgen: server CPU time: %w", err)
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond, nil
}
