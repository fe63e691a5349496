package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// Down stops every process of the local cluster, newest first, and removes the
// state folder. It does nothing when no cluster was started.
func Down(ctx context.Context, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	st, err := readState(opts)
	if errors.Is(err, os.ErrNotExist) {
		opts.progress("No local cluster in %s", opts.StateDir)
		return nil
	}
	if err != nil {
		return err
	}
	start := time.Now()
	opts.progress("Stopping the local cluster")
	var errs []error
	for i := len(st.Processes) - 1; i >= 0; i-- {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p := st.Processes[i]
		if err := p.stop(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stopping the local cluster (state kept in %s): %w", opts.StateDir, err)
	}
	if err := os.RemoveAll(opts.StateDir); err != nil {
		return fmt.Errorf("removing %s: %w", opts.StateDir, err)
	}
	_, _ = fmt.Fprintf(opts.Out, "    stopped %d processes in %s\n", len(st.Processes), time.Since(start).Round(100*time.Millisecond))
	return nil
}
