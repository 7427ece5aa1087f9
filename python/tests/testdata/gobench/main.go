// Command gobench times, with the Go SDK, the Retrieve call that the Python
// test suite times (test_measure_retrieve_100x50_fp32), for comparison: n
// calls for keys 1..100 of a group, each into the []float32 matrix view. It
// prints the median and p90 in milliseconds. It lives in testdata so that
// `go build ./...` and `go vet ./...` leave it alone; the Python test runs it
// with `go run ./python/tests/testdata/gobench` from the repository root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/ofstack/ofs/sdk"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7070", "the feature server")
	group := flag.String("group", "py_bench_fp32", "the feature group of entity user")
	n := flag.Int("n", 1000, "calls timed")
	flag.Parse()
	if err := run(*addr, *group, *n); err != nil {
		fmt.Fprintln(os.Stderr, "gobench:", err)
		os.Exit(1)
	}
}

func run(addr, group string, n int) error {
	c, err := sdk.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	req := sdk.RetrieveRequest{Entity: "user", Groups: []sdk.Group{{Name: group}}}
	for k := 1; k <= 100; k++ {
		req.Keys = append(req.Keys, []string{strconv.Itoa(k)})
	}
	ctx := context.Background()
	call := func() error {
		res, err := c.Retrieve(ctx, req)
		if err != nil {
			return err
		}
		if _, rows, width := res.Float32Matrix(); rows != 100 || width == 0 {
			return fmt.Errorf("matrix %dx%d", rows, width)
		}
		return nil
	}
	for range 50 { // warm up
		if err := call(); err != nil {
			return err
		}
	}
	times := make([]time.Duration, n)
	for i := range times {
		t := time.Now()
		if err := call(); err != nil {
			return err
		}
		times[i] = time.Since(t)
	}
	slices.Sort(times)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	fmt.Printf("median %.3f ms, p90 %.3f ms over %d calls\n", ms(times[n/2]), ms(times[n*9/10]), n)
	return nil
}
