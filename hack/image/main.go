// Command kubernaut-image builds the manager's container image without a
// container engine, and pushes it.
//
//	kubernaut-image build --out bin/image --version v0.1.0 [--platforms linux/amd64,linux/arm64] ...
//	kubernaut-image push --layout bin/image REGISTRY/NAME:TAG
//	kubernaut-image digest bin/image
//
// build compiles a Go package (cmd/manager) once per platform as a static binary
// and writes an OCI image layout holding one image index: per platform an image
// on an empty base (no distro, no shell) whose only layer holds the binary,
// /etc/passwd and /etc/group naming the non-root user 65532, and /tmp. Everything
// that could vary between two builds of the same source is fixed (the creation
// time, the files' times, owners and modes, the compression), so the same source
// and Go toolchain give the same digest. It prints the index's digest.
//
// push copies that index to a registry with the credentials of
// ~/.docker/config.json (and its credential helpers); localhost and loopback
// registries are spoken to over plain HTTP. digest prints the index's digest.
//
// It is a module of its own (hack/image/go.mod) so that go-containerregistry and
// what it brings (the Docker CLI's config code, the Moby client) stay out of the
// operator's go.mod; hack/tools.sh builds it into bin/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `Usage:
  kubernaut-image build [flags]             build the image into an OCI layout; prints its digest
  kubernaut-image push [flags] REF          push a layout's image index to REF (REGISTRY/NAME:TAG)
  kubernaut-image digest LAYOUT             print the digest of a layout's image index

Run kubernaut-image COMMAND -h for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "kubernaut-image:", err)
		}
		stop()
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		_, _ = fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "build":
		return runBuild(ctx, args[1:], stdout, stderr)
	case "push":
		return runPush(ctx, args[1:], stdout, stderr)
	case "digest":
		if len(args) != 2 {
			return errors.New("usage: kubernaut-image digest LAYOUT")
		}
		idx, err := readLayout(args[1])
		if err != nil {
			return err
		}
		d, err := idx.Digest()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, d)
		return err
	case "-h", "--help", "help":
		_, err := fmt.Fprint(stdout, usage)
		return err
	default:
		_, _ = fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func runBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := BuildOptions{Logf: func(format string, a ...any) { _, _ = fmt.Fprintf(stderr, format+"\n", a...) }}
	var platforms, created, labels string
	fs.StringVar(&o.Dir, "dir", ".", "the Go module to build in (the repository's root)")
	fs.StringVar(&o.Package, "package", "./cmd/manager", "the Go package to build, relative to --dir")
	fs.StringVar(&o.Binary, "binary", "manager", "the binary's name: the image runs /NAME")
	fs.StringVar(&platforms, "platforms", "linux/amd64", "comma-separated OS/ARCH to build for; the index lists one image each")
	fs.StringVar(&o.Out, "out", "", "the OCI layout folder to write (replaced if it holds a layout)")
	fs.StringVar(&o.Tar, "tar", "", "also write the layout as this tar file (fixed times and owners)")
	fs.StringVar(&o.Version, "version", "dev", "the version: -X main.version, label org.opencontainers.image.version")
	fs.StringVar(&o.Revision, "revision", "", "the source revision (commit), label org.opencontainers.image.revision")
	fs.StringVar(&o.Source, "source", "", "the source repository's URL, label org.opencontainers.image.source")
	fs.StringVar(&o.Title, "title", "kubernaut manager", "label org.opencontainers.image.title")
	fs.StringVar(&o.Licenses, "licenses", "", "SPDX expression, label org.opencontainers.image.licenses (left out when empty)")
	fs.StringVar(&created, "created", os.Getenv("SOURCE_DATE_EPOCH"),
		"the creation time in seconds since 1970 (default $SOURCE_DATE_EPOCH; 0 when unset): the config's created, the files' times")
	fs.StringVar(&labels, "label", "", "more labels, comma-separated KEY=VALUE")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("build takes no arguments, got %q", fs.Args())
	}
	if o.Out == "" {
		return errors.New("build: --out is required")
	}
	var err error
	if o.Platforms, err = parsePlatforms(platforms); err != nil {
		return err
	}
	if o.Created, err = parseEpoch(created); err != nil {
		return err
	}
	if labels != "" {
		o.Labels = map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("--label %q: want KEY=VALUE", kv)
			}
			o.Labels[k] = v
		}
	}
	d, err := Build(ctx, o)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, d)
	return err
}

func runPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o PushOptions
	fs.StringVar(&o.Layout, "layout", "bin/image", "the OCI layout folder kubernaut-image build wrote")
	fs.BoolVar(&o.Insecure, "insecure", false, "speak plain HTTP to the registry (localhost and 127.0.0.0/8 always are)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: kubernaut-image push [--layout DIR] REGISTRY/NAME:TAG")
	}
	o.Ref = fs.Arg(0)
	pushed, err := Push(ctx, o)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, pushed)
	return err
}

// parsePlatforms reads "linux/amd64,linux/arm64".
func parsePlatforms(s string) ([]Platform, error) {
	var out []Platform
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		osName, arch, ok := strings.Cut(p, "/")
		if !ok || osName == "" || arch == "" || strings.Contains(arch, "/") {
			return nil, fmt.Errorf("platform %q: want OS/ARCH", p)
		}
		out = append(out, Platform{OS: osName, Arch: arch})
	}
	if len(out) == 0 {
		return nil, errors.New("no platform")
	}
	return out, nil
}

// parseEpoch reads seconds since 1970; empty is 0.
func parseEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("creation time %q: want seconds since 1970", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
