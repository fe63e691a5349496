package harness

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"kubernaut.io/stepvalidation/test/promtest"
)

// startPrometheus starts the exporter and a Prometheus scraping it and
// opts.Targets (Options.Prometheus), with its files in the harness folder.
func (h *Harness) startPrometheus(ctx context.Context, bin string, opts promtest.Options) error {
	exporter, err := promtest.NewExporter()
	if err != nil {
		return err
	}
	h.exporter = exporter
	opts.Targets = append([]string{exporter.Target()}, opts.Targets...)
	if opts.Binary == "" {
		opts.Binary = filepath.Join(bin, "prometheus")
	}
	if opts.Dir == "" {
		opts.Dir = filepath.Join(h.dir, "prometheus")
	}
	if h.prometheus, err = promtest.Run(ctx, opts); err != nil {
		return fmt.Errorf("starting prometheus: %w", err)
	}
	return nil
}

func (h *Harness) stopPrometheus() error {
	var errs []error
	if h.prometheus != nil {
		errs = append(errs, h.prometheus.Stop())
		h.prometheus = nil
	}
	if h.exporter != nil {
		errs = append(errs, h.exporter.Close())
		h.exporter = nil
	}
	return errors.Join(errs...)
}

// Prometheus is the Prometheus of Options.Prometheus (nil without it): its URL,
// Query and WaitFor.
func (h *Harness) Prometheus() *promtest.Prometheus { return h.prometheus }

// Exporter is the exporter that Prometheus scrapes (Options.Prometheus; nil
// without it): a test sets an application's error rate or a pod's CPU
// throttling on it.
func (h *Harness) Exporter() *promtest.Exporter { return h.exporter }

// PrometheusFlags are the manager's flags to query the Prometheus of
// Options.Prometheus: --prometheus-url, and --prometheus-ca-file and
// --prometheus-bearer-token-file when it serves TLS or wants a token. Nil
// without Options.Prometheus.
func (h *Harness) PrometheusFlags() []string {
	p := h.prometheus
	if p == nil {
		return nil
	}
	flags := []string{"--prometheus-url=" + p.URL()}
	if p.CAFile() != "" {
		flags = append(flags, "--prometheus-ca-file="+p.CAFile())
	}
	if p.BearerTokenFile() != "" {
		flags = append(flags, "--prometheus-bearer-token-file="+p.BearerTokenFile())
	}
	return flags
}
