package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how far publishing got: a progress bar on a terminal, else
// a line of counts every countEvery. It serializes writes to stderr.
type progress struct {
	mu  sync.Mutex
	w   io.Writer
	bar *progressbar.ProgressBar // nil when counts are printed instead
	off int64
}

func newProgress(w io.Writer, size int64, quiet bool) *progress {
	p := &progress{w: w}
	if !quiet && isTerminal(w) {
		p.bar = progressbar.NewOptions64(size,
			progressbar.OptionSetWriter(w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("publishing"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Start begins the periodic counts (or the bar's description updates); the
// returned function stops them and clears the bar.
func (p *progress) Start(sent, failed *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	every := countEvery
	if p.bar != nil {
		every = 250 * time.Millisecond
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.mu.Lock()
				if p.bar != nil {
					p.bar.Describe(fmt.Sprintf("sent %d, failed %d", sent.Load(), failed.Load()))
				} else {
					fmt.Fprintf(p.w, "ofs publish: sent %d, failed %d\n", sent.Load(), failed.Load())
				}
				p.mu.Unlock()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.bar != nil {
			_ = p.bar.Finish() // drawing on a terminal; nothing to do if it fails
		}
	}
}

// Read records that the input was consumed up to offset.
func (p *progress) Read(offset int64) {
	if p.bar == nil || offset <= p.off {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Add64(offset - p.off) // drawing on a terminal; nothing to do if it fails
	p.off = offset
}

// Printf writes a message above the bar.
func (p *progress) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear() // drawing on a terminal; the message follows regardless
	}
	fmt.Fprintf(p.w, format, args...)
}
