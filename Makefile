# Tools are built from the Go module proxy into bin/ by hack/tools.sh (pinned there).
BIN := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
GOLANGCI_LINT := $(BIN)/golangci-lint

# Test flags, e.g. make test GOTEST_FLAGS='-run TestAPI -v'.
GOTEST_FLAGS ?=

# How long make fuzz (and so make test) runs each fuzz target; 0 skips fuzzing.
FUZZTIME ?= 8s
# The fuzz targets, as package:Target: go test fuzzes one target per package per run.
FUZZ_TARGETS := \
	./conditions:FuzzCompile \
	./conditions:FuzzEvaluate \
	./catalog:FuzzExecutors \
	./webhook:FuzzValidateWorkflow \
	./webhook:FuzzValidatingWebhookAnswersAsTheBuilders \
	./webhook:FuzzAdmission \
	./conditions/promquery:FuzzExpand \
	./conditions/promquery:FuzzDecode

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
manifests: $(CONTROLLER_GEN) ## Generate the CRDs (config/crd/bases), webhook configurations (config/webhook), the manager's ClusterRole (config/rbac/role.yaml), the actions' RBAC (config/rbac/actions.yaml) and the Helm chart's templates (charts/kubernaut, from config/default).
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) webhook paths=./webhook/... output:webhook:artifacts:config=config/webhook
	$(CONTROLLER_GEN) rbac:roleName=kubernaut-manager paths=./... output:rbac:artifacts:config=config/rbac
	go run ./hack/actionrbac > config/rbac/actions.yaml
	go run ./hack/inputkeys > docs/input-keys.md
	$(BIN)/kubectl kustomize config/default | go run ./hack/helmchart charts/kubernaut

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
lint: ## Run golangci-lint (built into bin/ on first use), on the operator and on hack/image.
	hack/tools.sh golangci-lint
	$(GOLANGCI_LINT) run ./...
	cd hack/image && $(GOLANGCI_LINT) run ./...

##@ Build

.PHONY: build
build: ## Build every package.
	go build ./...

.PHONY: cli
cli: ## Build the kubernaut CLI into bin/, with bin/kubectl-kubernaut beside it (kubectl kubernaut get wfe NAME).
	go build -o $(BIN)/kubernaut ./cmd/kubernaut
	ln -sf kubernaut $(BIN)/kubectl-kubernaut

##@ Test

.PHONY: test
test: tools verify-generated vet ## Run every test against a real API server (builds the tools first), then make fuzz.
	KUBEBUILDER_ASSETS=$(BIN) go test $(GOTEST_FLAGS) ./...
	cd hack/image && GOWORK=off go test $(GOTEST_FLAGS) ./...
	@$(MAKE) --no-print-directory fuzz

.PHONY: docs
docs: tools ## Run the shell and YAML blocks of README.md and docs/*.md, in order, against a local cluster (test/docs, about two and a half minutes; make test runs it as part of go test ./...).
	go test -count=1 -run TestDocs -v ./test/docs

# Each target starts from its seeds (testdata/fuzz/<Target>, which go test also runs as
# tests) and what earlier runs on this machine found. Inputs are not minimized, to keep
# the time fixed. A failing input is written to <package>/testdata/fuzz/<Target>/ and
# printed here, so that a failure in CI can be reproduced: add the file and run
# go test -run '<Target>/<file>' <package>.
.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 8s, about 80s in all once built; FUZZTIME=0 skips), failing on what they find.
	@case "$(FUZZTIME)" in 0|0s|0x) echo "fuzzing skipped (FUZZTIME=$(FUZZTIME))"; exit 0;; esac; \
	started=$$SECONDS; failed=; stamp=$$(mktemp); trap 'rm -f "$$stamp"' EXIT; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; target=$${t##*:}; \
		echo "fuzzing $$target ($$pkg) for $(FUZZTIME)"; \
		if ! go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 0 $$pkg; then \
			failed="$$failed $$target"; \
			find "$$pkg/testdata/fuzz/$$target" -type f -newer "$$stamp" 2>/dev/null | while read -r f; do \
				echo "--- failing input $$f:"; cat "$$f"; \
			done; \
		fi; \
	done; \
	echo "fuzzing took $$((SECONDS - started))s"; \
	if [ -n "$$failed" ]; then echo "fuzzing failed:$$failed" >&2; exit 1; fi

##@ Tools

.PHONY: tools
tools: ## Build etcd, the Kubernetes control plane, kwok, controller-gen, helm and prometheus into bin/.
	hack/tools.sh

$(CONTROLLER_GEN):
	hack/tools.sh controller-gen

##@ Demo

.PHONY: demo
IMAGE_REPO ?= ghcr.io/kubernaut-io/kubernaut-manager
VERSION ?= dev
LAYOUT ?= bin/image

.PHONY: image
image: ## Build the manager's OCI image (linux/amd64, linux/arm64) into bin/image without a container engine; prints its digest.
	hack/tools.sh kubernaut-image
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct)} $(BIN)/kubernaut-image build --out $(LAYOUT) \
	  --platforms linux/amd64,linux/arm64 --version $(VERSION) --revision $$(git rev-parse HEAD) \
	  --source https://github.com/kubernaut-io/kubernaut

.PHONY: image-push
image-push: ## Push the image of make image (LAYOUT=bin/image) to IMAGE=REGISTRY/NAME:TAG, with ~/.docker/config.json's credentials.
	@[[ -n "$(IMAGE)" ]] || { echo "make image-push IMAGE=REGISTRY/NAME:TAG" >&2; exit 2; }
	hack/tools.sh kubernaut-image
	$(BIN)/kubernaut-image push --layout $(LAYOUT) $(IMAGE)

.PHONY: release
release: ## Write a release to dist/ (VERSION=v0.x.y, IMAGE_REPO=...): image, install.yaml pinned by digest, Helm chart, CLI binaries, SHA256SUMS.
	@[[ "$(VERSION)" != dev ]] || { echo "make release VERSION=v0.x.y" >&2; exit 2; }
	hack/tools.sh kubectl helm kubernaut-image
	hack/release.sh $(VERSION) $(IMAGE_REPO)

demo: ## Start a local cluster (kwok nodes) with the manager, run three workflows on it (one completes, one is blocked, one is rolled back on its error rate from Prometheus), stop it. KEEP=1 leaves it running.
	go run ./cmd/kubernaut local demo $(if $(filter 1 true yes,$(KEEP)),--keep)
