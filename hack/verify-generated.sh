#!/usr/bin/env bash
# Fails when the generated deepcopy code, CRDs, webhook configurations or the
# RBAC (config/rbac/role.yaml, config/rbac/actions.yaml), docs/input-keys.md or the
# Helm chart's generated templates (charts/kubernaut) differ from what the code produces. It
# regenerates them in place, so after a failure the tree holds the fresh files and
# `git diff` shows what was stale.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

generated() {
  find api config/crd/bases config/webhook config/rbac/actions.yaml config/rbac/role.yaml docs/input-keys.md charts/kubernaut -type f \( -name 'zz_generated.*.go' -o -name '*.yaml' -o -name '*.md' \) 2>/dev/null |
    sort | xargs -r sha256sum
}

before=$(generated)
make --no-print-directory -s generate manifests >/dev/null
after=$(generated)

if [[ "$before" != "$after" ]]; then
  echo "Generated files were stale; they have been regenerated. Commit these:" >&2
  diff <(echo "$before") <(echo "$after") | sed -n 's/^[<>] [0-9a-f]*  /  /p' | sort -u >&2
  exit 1
fi
echo "generated files are up to date"
