#!/usr/bin/env bash
# Renders config/default with the manager's image set, to stdout: the install a
# release ships as install.yaml.
#
# Usage: hack/render-install.sh IMAGE
#   IMAGE is REGISTRY/NAME@sha256:DIGEST (a release pins the digest) or REGISTRY/NAME:TAG.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $# -eq 1 ]] || { echo "usage: hack/render-install.sh REGISTRY/NAME@sha256:DIGEST" >&2; exit 2; }
image=$1

mkdir -p "$root/bin"
# Inside the repository: kustomize takes only relative paths to other folders.
overlay=$(mktemp -d "$root/bin/.install-overlay.XXXXXX")
trap 'rm -rf "$overlay"' EXIT
{
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources:"
  echo "  - $(realpath --relative-to="$overlay" "$root/config/default")"
  echo "images:"
  echo "  - name: kubernaut/manager"
  if [[ "$image" == *@sha256:* ]]; then
    echo "    newName: ${image%@*}"
    echo "    digest: ${image#*@}"
  elif [[ "${image##*/}" == *:* ]]; then
    echo "    newName: ${image%:*}"
    echo "    newTag: ${image##*:}"
  else
    echo "IMAGE $image names no tag or digest" >&2
    exit 2
  fi
} >"$overlay/kustomization.yaml"
"$root/bin/kubectl" kustomize "$overlay"
