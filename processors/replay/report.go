package replay

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"
)

// Print writes the report for people: a line per group, then the differing
// keys with both rows.
func (r *Report) Print(w io.Writer) error {
	fmt.Fprintf(w, "Verified %d events up to the watermarks %v in %s (%d skipped: rejected at ingest, deleted groups, or out of range).\n",
		r.Read, sortedMarks(r.Watermarks), r.Elapsed.Round(time.Millisecond), r.Skipped)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tROWS\tFOUND\tEQUAL\tMISSING\tSTALE\tDIFFER\tNEWER\tEXPIRED\tLOG SUM\tSTORE SUM")
	for _, g := range r.Groups {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%016x\t%016x\n", g.Group, g.Rows, g.Found, g.Equal,
			g.Missing, g.Stale, g.Differ, g.Newer, g.Expired, g.LogSum, g.StoreSum)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Diffs) > 0 {
		fmt.Fprintf(w, "First %d differing keys:\n", len(r.Diffs))
		for _, d := range r.Diffs {
			fmt.Fprintf(w, "  %s %s: %s\n    log:   %s\n    store: %s\n", d.Group, d.Key, d.Problem, d.Log, d.Store)
		}
	}
	var err error
	if n := r.Drift(); n > 0 {
		_, err = fmt.Fprintf(w, "Drift: %d rows of the store differ from the log.\n", n)
	} else {
		_, err = fmt.Fprintln(w, "No drift: the store holds the fold of the log (rows newer than the watermark aside).")
	}
	return err
}

func sortedMarks(m map[int32]int64) []int64 {
	parts := slices.Sorted(maps.Keys(m))
	out := make([]int64, len(parts))
	for i, p := range parts {
		out[i] = m[p]
	}
	return out
}
