package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The user the image runs as: distroless's "nonroot", which the install's
// securityContext (runAsUser, runAsGroup, fsGroup) names too.
const (
	UID = 65532
	GID = 65532
	// User is the config's User.
	User = "65532:65532"
)

// OCI annotation and label keys.
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelVersion  = "org.opencontainers.image.version"
	LabelTitle    = "org.opencontainers.image.title"
	LabelLicenses = "org.opencontainers.image.licenses"
	LabelCreated  = "org.opencontainers.image.created"
	// RefName names the index in the layout's index.json.
	RefName = "org.opencontainers.image.ref.name"
)

// Platform is an OS/architecture pair Go can build for.
type Platform struct{ OS, Arch string }

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// BuildOptions say what Build compiles and how the image is labelled.
type BuildOptions struct {
	// Dir is the Go module the package is built in; Package is relative to it.
	Dir, Package string
	// Binary is the file name of the binary in the image (at /Binary), its entrypoint.
	Binary    string
	Platforms []Platform
	// Out is the OCI layout folder; Tar, when set, gets the same layout as a tar file.
	Out, Tar string
	// Version is set as main.version in the binary and labelled.
	Version, Revision, Source, Title, Licenses string
	// Labels are added to the OCI labels (and override them).
	Labels map[string]string
	// Created is the image's creation time and every file's modification time.
	Created time.Time
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
}

func (o *BuildOptions) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// Build compiles the package for each platform, writes the image index to the
// layout o.Out (and o.Tar) and returns the index's digest.
func Build(ctx context.Context, o BuildOptions) (v1.Hash, error) {
	if o.Binary == "" || strings.ContainsRune(o.Binary, '/') {
		return v1.Hash{}, fmt.Errorf("binary name %q: want a plain file name", o.Binary)
	}
	if len(o.Platforms) == 0 {
		return v1.Hash{}, errors.New("no platform to build for")
	}
	work, err := os.MkdirTemp("", "kubernaut-image-")
	if err != nil {
		return v1.Hash{}, err
	}
	defer func() { _ = os.RemoveAll(work) }()

	var adds []mutate.IndexAddendum
	for _, p := range o.Platforms {
		bin := filepath.Join(work, p.OS+"-"+p.Arch, o.Binary)
		if err := GoBuild(ctx, o.Dir, o.Package, bin, p, o.Version); err != nil {
			return v1.Hash{}, err
		}
		o.logf("built %s for %s", o.Package, p)
		img, err := Image(bin, p, o)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("image for %s: %w", p, err)
		}
		adds = append(adds, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Arch}},
		})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	idx, ok := mutate.Annotations(idx, o.labels()).(v1.ImageIndex)
	if !ok {
		return v1.Hash{}, errors.New("annotating the index lost its type")
	}
	if err := WriteLayout(o.Out, idx, o.Version); err != nil {
		return v1.Hash{}, err
	}
	if o.Tar != "" {
		if err := TarDir(o.Out, o.Tar, o.Created); err != nil {
			return v1.Hash{}, err
		}
	}
	d, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	o.logf("wrote %s (%s): %s", o.Out, platformList(o.Platforms), d)
	return d, nil
}

func platformList(ps []Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// GoBuild compiles pkg (relative to dir) for p into out: a static binary
// (CGO_ENABLED=0) without file system paths, build ID, VCS stamp, symbol table or
// DWARF, main.version set to version. The microarchitecture levels are fixed at
// Go's defaults so that a GOAMD64 or GOARM64 in the environment changes nothing.
func GoBuild(ctx context.Context, dir, pkg, out string, p Platform, version string) error {
	ldflags := "-s -w -buildid= -X main.version=" + version
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags="+ldflags, "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch,
		"GOAMD64=v1", "GOARM64=v8.0", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s: %w\n%s", pkg, p, err, stderr.String())
	}
	return nil
}

// labels are the OCI labels of the images and the annotations of the index.
func (o *BuildOptions) labels() map[string]string {
	l := map[string]string{
		LabelVersion: o.Version,
		LabelCreated: o.Created.UTC().Format(time.RFC3339),
	}
	for k, v := range map[string]string{LabelSource: o.Source, LabelRevision: o.Revision, LabelTitle: o.Title, LabelLicenses: o.Licenses} {
		if v != "" {
			l[k] = v
		}
	}
	maps.Copy(l, o.Labels)
	return l
}

// Image is the image of one platform: an empty base, one layer (Layer), OCI media
// types, run as User with the binary as entrypoint.
func Image(binary string, p Platform, o BuildOptions) (v1.Image, error) {
	content, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(binary)
	layerTar, err := Layer(name, content, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression))
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.Created.UTC()}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: p.Arch,
		OS:           p.OS,
		Created:      created,
		Config: v1.Config{
			User:       User,
			Entrypoint: []string{"/" + name},
			WorkingDir: "/",
			Labels:     o.labels(),
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   created,
			CreatedBy: "kubernaut-image: go build " + o.Package + " (" + p.String() + ")",
			Comment:   "/" + name + ", /etc/passwd, /etc/group, /tmp",
		},
	})
}

// Layer is the image's only layer as an uncompressed tar: the binary at /name,
// /etc/passwd and /etc/group with the non-root user and group (so that tools and
// Go's os/user can name UID 65532), and /tmp. Owners are root, times mtime, the
// order fixed.
func Layer(name string, binary []byte, mtime time.Time) ([]byte, error) {
	passwd := fmt.Sprintf("nonroot:x:%d:%d:nonroot:/nonexistent:/sbin/nologin\n", UID, GID)
	group := fmt.Sprintf("nonroot:x:%d:\n", GID)
	entries := []struct {
		name string
		mode int64
		body []byte
		dir  bool
	}{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: name, mode: 0o755, body: binary},
		{name: "tmp/", mode: 0o1777, dir: true},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			ModTime: mtime.UTC(),
			Format:  tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteLayout writes idx as the only entry of a fresh OCI layout at dir, named
// refName. An existing dir is replaced only when it is a layout (has an
// oci-layout file) or empty, so a wrong --out cannot delete anything else.
func WriteLayout(dir string, idx v1.ImageIndex, refName string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
			return fmt.Errorf("%s exists and is not an OCI layout: not replacing it", dir)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{RefName: refName}))
}

// readLayout returns the image index a layout's index.json lists first (the one
// WriteLayout wrote).
func readLayout(dir string) (v1.ImageIndex, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	root, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := root.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsIndex() {
		return nil, fmt.Errorf("OCI layout %s: want one image index in index.json, found %d entries", dir, len(m.Manifests))
	}
	return root.ImageIndex(m.Manifests[0].Digest)
}

// TarDir writes the files under dir to a tar file, sorted, with mtime as every
// time, owned by root, 0644 files and 0755 folders: the same folder gives the
// same bytes.
func TarDir(dir, file string, mtime time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(names)
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, n := range names {
		if err := tarFile(tw, filepath.Join(dir, filepath.FromSlash(n)), n, mtime); err != nil {
			_ = f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func tarFile(tw *tar.Writer, src, name string, mtime time.Time) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	h := &tar.Header{Name: name, ModTime: mtime.UTC(), Format: tar.FormatPAX}
	if fi.IsDir() {
		h.Typeflag, h.Mode, h.Name = tar.TypeDir, 0o755, path.Clean(name)+"/"
		return tw.WriteHeader(h)
	}
	h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, fi.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	r, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }()
	_, err = io.Copy(tw, r)
	return err
}
