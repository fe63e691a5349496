# Tools are built from the Go module proxy into bin/ by hack/tools.sh (pinned there).
BIN := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
GOLANGCI_LINT := $(BIN)/golangci-lint

# Test flags, e.g. make test GOTEST_FLAGS='-run TestAPI -v'.
GOTEST_FLAGS ?=

.DEFAULT_GOAL := help
SHELL := /usr/bin/env bash -o pipefail

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
		/^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } \
		/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code for the API types.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs (config/crd/bases), webhook configurations (config/webhook), the manager's ClusterRole (config/rbac/role.yaml) and the actions' RBAC (config/rbac/actions.yaml).
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) webhook paths=./webhook/... output:webhook:artifacts:config=config/webhook
	$(CONTROLLER_GEN) rbac:roleName=kubernaut-manager paths=./... output:rbac:artifacts:config=config/rbac
	go run ./hack/actionrbac > config/rbac/actions.yaml
	go run ./hack/inputkeys > docs/input-keys.md

.PHONY: verify-generated
verify-generated: $(CONTROLLER_GEN) ## Fail when generated code or CRDs are stale.
	hack/verify-generated.sh

.PHONY: fmt
fmt: ## Format the Go code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: ## Run golangci-lint (built into bin/ on first use).
	hack/tools.sh golangci-lint
	$(GOLANGCI_LINT) run ./...

##@ Build

.PHONY: build
build: ## Build every package.
	go build ./...

##@ Test

.PHONY: test
test: tools verify-generated vet ## Run every test against a real API server (builds the tools first).
	KUBEBUILDER_ASSETS=$(BIN) go test $(GOTEST_FLAGS) ./...

##@ Tools

.PHONY: tools
tools: ## Build etcd, the Kubernetes control plane, kwok and controller-gen into bin/.
	hack/tools.sh

$(CONTROLLER_GEN):
	hack/tools.sh controller-gen

##@ Demo

.PHONY: demo
demo: ## Start a local cluster (kwok nodes) with the manager, run two workflows on it, stop it. KEEP=1 leaves it running.
	go run ./cmd/kubernaut local demo $(if $(filter 1 true yes,$(KEEP)),--keep)
