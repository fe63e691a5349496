#!/usr/bin/env bash
# Writes a release to dist/: the manager's image (an OCI layout as a tar file),
# install.yaml naming that image by digest, the Helm chart with the same pin, the
# kubernaut CLI for linux and darwin on amd64 and arm64, and SHA256SUMS.
#
# Usage: hack/release.sh VERSION [IMAGE_REPO]
#   VERSION     v0.1.0 style, stamped into the binaries, the image labels and the chart
#   IMAGE_REPO  where the image will be pushed (default ghcr.io/kubernaut-io/kubernaut-manager);
#               push it with: make image-push IMAGE=IMAGE_REPO:VERSION LAYOUT=dist/image
#
# The same source gives the same bytes: the creation time is the commit's
# ($SOURCE_DATE_EPOCH overrides it), and nothing else that varies is recorded.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
[[ $# -ge 1 && $# -le 2 ]] || { sed -n '2,12p' "$0" >&2; exit 2; }
version=$1
repo=${2:-ghcr.io/kubernaut-io/kubernaut-manager}
[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || { echo "VERSION $version: want vMAJOR.MINOR.PATCH[-PRERELEASE]" >&2; exit 2; }
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
revision=$(git rev-parse HEAD)
dist="$root/dist"
rm -rf "$dist" && mkdir -p "$dist"
log() { printf '[release] %s\n' "$*" >&2; }

log "image $repo ($version, linux/amd64 and linux/arm64)"
digest=$(bin/kubernaut-image build --out "$dist/image" --tar "$dist/kubernaut-manager-$version.oci.tar" \
  --platforms linux/amd64,linux/arm64 --version "$version" --revision "$revision" \
  --source https://github.com/kubernaut-io/kubernaut)

log "install.yaml with $repo@$digest"
hack/render-install.sh "$repo@$digest" >"$dist/install.yaml"

log "Helm chart"
chart="$dist/.chart/kubernaut"
mkdir -p "$dist/.chart" && cp -r charts/kubernaut "$chart"
sed -i "s|^version: .*|version: ${version#v}|; s|^appVersion: .*|appVersion: $version|" "$chart/Chart.yaml"
sed -i "s|^  repository: kubernaut/manager$|  repository: $repo|; s|^  tag: latest$|  tag: $version|; s|^  digest: \"\"$|  digest: $digest|" "$chart/values.yaml"
bin/helm package "$chart" --destination "$dist" >/dev/null
rm -rf "$dist/.chart"

for platform in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64; do
  log "kubernaut CLI for $platform"
  CGO_ENABLED=0 GOOS=${platform%/*} GOARCH=${platform#*/} go build -trimpath -buildvcs=false \
    -ldflags "-s -w -buildid= -X main.version=$version" \
    -o "$dist/kubernaut-$version-${platform%/*}-${platform#*/}" ./cmd/kubernaut
done

(cd "$dist" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | sort | xargs sha256sum >SHA256SUMS)
log "wrote $dist (image $repo@$digest)"
ls -l "$dist" >&2
