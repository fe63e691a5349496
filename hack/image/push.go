package main

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushOptions say which layout goes where.
type PushOptions struct {
	// Layout is the OCI layout folder Build wrote.
	Layout string
	// Ref is REGISTRY/NAME[:TAG] (latest when no tag), or REGISTRY/NAME@DIGEST,
	// which must then be the index's digest.
	Ref string
	// Insecure speaks plain HTTP to any registry; localhost and loopback
	// registries are spoken to over HTTP without it.
	Insecure bool
}

// Push uploads the layout's image index (its images and their blobs) to o.Ref
// with the credentials authn.DefaultKeychain finds (~/.docker/config.json, its
// credential helpers, $DOCKER_CONFIG) and returns REGISTRY/NAME@DIGEST.
func Push(ctx context.Context, o PushOptions) (string, error) {
	var opts []name.Option
	if o.Insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(o.Ref, opts...)
	if err != nil {
		return "", err
	}
	idx, err := readLayout(o.Layout)
	if err != nil {
		return "", err
	}
	d, err := idx.Digest()
	if err != nil {
		return "", err
	}
	if byDigest, ok := ref.(name.Digest); ok && byDigest.DigestStr() != d.String() {
		return "", fmt.Errorf("%s: the layout's index is %s", o.Ref, d)
	}
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return "", fmt.Errorf("pushing to %s: %w", o.Ref, err)
	}
	return ref.Context().Digest(d.String()).String(), nil
}
