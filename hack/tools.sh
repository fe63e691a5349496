#!/usr/bin/env bash
# Builds the project's pinned tools into bin/ from the Go module proxy.
#
# Usage: hack/tools.sh [tool ...]      (no arguments: every tool but golangci-lint)
# Tools: etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok
#        metrics-server controller-gen helm kubernaut-image registry prometheus golangci-lint
#
# Nothing is downloaded but Go modules: the control plane is compiled from source.
# A tool is rebuilt only when its binary is missing or its pinned version changed
# (bin/.versions/<tool> records what was built), so a second run takes a second.
set -euo pipefail

ETCD_VERSION=v3.7.3
KUBERNETES_VERSION=v1.37.2
KWOK_VERSION=v0.8.0
CONTROLLER_TOOLS_VERSION=v0.23.0
GOLANGCI_LINT_VERSION=v2.15.0
HELM_VERSION=v4.3.2
REGISTRY_VERSION=v3.1.2
PROMETHEUS_VERSION=v0.316.0
METRICS_SERVER_VERSION=v0.8.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$root/bin"
work="$bin/.build"
stamps="$bin/.versions"
mkdir -p "$bin" "$work" "$stamps"

log() { printf '[tools] %s\n' "$*" >&2; }

# up_to_date TOOL VERSION: true when bin/TOOL exists and was built at VERSION.
up_to_date() {
  [[ -x "$bin/$1" && -f "$stamps/$1" && "$(cat "$stamps/$1")" == "$2" ]]
}

stamp() { printf '%s\n' "$2" >"$stamps/$1"; }

# module_dir MODULE@VERSION: the module's source folder in the module cache.
module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

timed() {
  local start=$SECONDS
  "$@"
  log "  done in $((SECONDS - start))s"
}

build_etcd() {
  up_to_date etcd "$ETCD_VERSION" && return
  log "building etcd $ETCD_VERSION (cold: about a minute)"
  local mod="$work/etcd"
  rm -rf "$mod" && mkdir -p "$mod"
  (
    cd "$mod"
    go mod init tools.local/etcd >/dev/null 2>&1
    go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    GOFLAGS=-mod=mod timed go build -o "$bin/etcd" go.etcd.io/etcd/server/v3
  )
  stamp etcd "$ETCD_VERSION"
}

# Prometheus, on loopback in test/promtest and the e2e suites: conditions' PromQL
# queries run against it. Two build tags keep it small and quick to compile:
#  - no builtinassets: the web UI's compiled assets are not in the module (they are
#    built with npm upstream); without the tag the UI pages are absent but the HTTP
#    API (/api/v1/query, /-/ready), which is all the tests use, is whole.
#  - remove_all_sd: leaves out the cloud service discoveries (AWS, Azure, GCE,
#    Kubernetes, ...); static_configs, file_sd and http_sd remain.
build_prometheus() {
  up_to_date prometheus "$PROMETHEUS_VERSION" && return
  log "building prometheus $PROMETHEUS_VERSION (cold: 4-7 minutes on 2 cores)"
  local mod="$work/prometheus"
  rm -rf "$mod" && mkdir -p "$mod"
  (
    cd "$mod"
    go mod init tools.local/prometheus >/dev/null 2>&1
    go mod edit -require="github.com/prometheus/prometheus@$PROMETHEUS_VERSION"
    GOFLAGS=-mod=mod timed go build -tags remove_all_sd \
      -ldflags "-X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION#v}" \
      -o "$bin/prometheus" github.com/prometheus/prometheus/cmd/prometheus
  )
  stamp prometheus "$PROMETHEUS_VERSION"
}

# The Kubernetes binaries are built from k8s.io/kubernetes itself. Its go.mod points
# every staging module (k8s.io/api, k8s.io/client-go, ...) at ./staging; a throwaway
# module replaces each of them with the published v0.<minor>.<patch> module instead.
kubernetes_stamp="version-stamped"
build_kubernetes() {
  local want=() tool
  for tool in "$@"; do
    up_to_date "$tool" "$KUBERNETES_VERSION $kubernetes_stamp" || want+=("$tool")
  done
  [[ ${#want[@]} -eq 0 ]] && return
  log "building ${want[*]} $KUBERNETES_VERSION from source (cold: 10-15 minutes on 2 cores)"
  local mod="$work/kubernetes" staging="v0.${KUBERNETES_VERSION#v1.}"
  rm -rf "$mod" && mkdir -p "$mod"
  local upstream
  upstream=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  (
    cd "$mod"
    go mod init tools.local/kubernetes >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@$KUBERNETES_VERSION"
    # Replace lines look like "k8s.io/api => ./staging/src/k8s.io/api".
    local staged
    for staged in $(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*#\1#p' "$upstream"); do
      go mod edit -replace="$staged=$staged@$staging"
    done
    local pkgs=()
    for tool in "${want[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$tool"); done
    # The release's version, as upstream's build stamps it: without it every binary
    # says v0.0.0-master+$Format:%H$, which kubectl version cannot parse (exit 1).
    local minor=${KUBERNETES_VERSION#v1.} component=k8s.io/component-base/version
    minor=${minor%%.*}
    GOFLAGS=-mod=mod timed go build -o "$bin/" -ldflags "-X $component.gitVersion=$KUBERNETES_VERSION \
      -X $component.gitMajor=1 -X $component.gitMinor=$minor -X $component.gitTreeState=clean" "${pkgs[@]}"
  )
  for tool in "${want[@]}"; do stamp "$tool" "$KUBERNETES_VERSION $kubernetes_stamp"; done
}

# go_install TOOL MODULE/PATH VERSION
go_install() {
  up_to_date "$1" "$3" && return
  log "building $1 $3"
  GOBIN="$bin" timed go install "$2@$3"
  stamp "$1" "$3"
}

# kubernaut-image builds and pushes the manager's image (hack/image, a module of
# its own so that go-containerregistry stays out of the operator's go.mod). It is
# the project's own code: rebuilt every time, which the build cache makes cheap.
build_kubernaut_image() {
  (cd "$root/hack/image" && GOWORK=off go build -o "$bin/kubernaut-image" .)
}

# kwok exits with "no stages found" unless it is given Stage documents; they live in
# the kwok module's kustomize folders. kwok-stages.yaml makes nodes and pods Ready;
# kwok-stages-chaos.yaml adds stages that make containers fail.
kwok_stages() {
  [[ -f "$bin/kwok-stages.yaml" && -f "$stamps/kwok-stages.yaml" &&
    "$(cat "$stamps/kwok-stages.yaml")" == "$KWOK_VERSION" ]] && return
  log "writing kwok stage files"
  local src
  src=$(module_dir "sigs.k8s.io/kwok@$KWOK_VERSION")
  concat_yaml "$src"/kustomize/stage/node/fast/*.yaml \
    "$src"/kustomize/stage/node/heartbeat/*.yaml \
    "$src"/kustomize/stage/pod/fast/*.yaml >"$bin/kwok-stages.yaml"
  concat_yaml "$src"/kustomize/stage/pod/chaos/*.yaml >"$bin/kwok-stages-chaos.yaml"
  stamp kwok-stages.yaml "$KWOK_VERSION"
}

# concat_yaml FILE...: the Stage documents among FILEs, as one multi-document stream.
concat_yaml() {
  local f
  for f in "$@"; do
    [[ "$(basename "$f")" == kustomization.yaml ]] && continue
    printf -- '---\n'
    cat "$f"
  done
}

build() {
  case "$1" in
  etcd) build_etcd ;;
  kube-apiserver | kube-controller-manager | kube-scheduler | kubectl) build_kubernetes "$1" ;;
  control-plane) build_kubernetes kube-apiserver kube-controller-manager kube-scheduler kubectl ;;
  kwok)
    go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"
    kwok_stages
    ;;
  # metrics-server serves metrics.k8s.io (kubectl top) in the local cluster and the
  # harness, scraping the resource metrics kwok simulates (internal/metricsapi).
  metrics-server) go_install metrics-server sigs.k8s.io/metrics-server/cmd/metrics-server "$METRICS_SERVER_VERSION" ;;
  controller-gen) go_install controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen "$CONTROLLER_TOOLS_VERSION" ;;
  kubernaut-image) build_kubernaut_image ;;
  # The CNCF distribution registry, on loopback in hack/image's tests.
  registry) go_install registry github.com/distribution/distribution/v3/cmd/registry "$REGISTRY_VERSION" ;;
  # helm renders and installs charts/kubernaut (test/install, the README's Helm install).
  helm) go_install helm helm.sh/helm/v4/cmd/helm "$HELM_VERSION" ;;
  prometheus) build_prometheus ;;
  golangci-lint) go_install golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint "$GOLANGCI_LINT_VERSION" ;;
  *)
    log "unknown tool: $1 (known: etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok metrics-server controller-gen helm kubernaut-image registry prometheus golangci-lint)"
    return 2
    ;;
  esac
}

main() {
  local tools=("$@")
  [[ ${#tools[@]} -eq 0 ]] && tools=(controller-gen etcd control-plane kwok metrics-server helm kubernaut-image registry prometheus)
  local t
  for t in "${tools[@]}"; do build "$t"; done
  log "tools ready in $bin"
}

main "$@"
