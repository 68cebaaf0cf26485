# trellis: the two commands a new user needs are `make demo` and `make test`.

GO ?= go
BIN := $(CURDIR)/bin
TRELLIS := $(BIN)/trellis
# Go test flags; CI passes nothing.
TESTFLAGS ?=
FUZZTIME ?= 30s

include test/controlplane.mk

.PHONY: all build release test test-race test-short bench lint fuzz demo demo-dashboard browser clean

all: build

# TAGS are build tags for every go command here (exported in GOFLAGS, so
# that the binaries tests build get them too): kustomize_disable_go_plugin_support
# leaves out kustomize's loader of Go plugins, which trellis never uses (it
# disables kustomize plugins). In a build with cgo (go's default where a C
# compiler is found) its import of "plugin" makes the linker export every
# symbol: 29 MB more binary and some 27 MB more memory per process. Static
# builds (make release, deploy/Dockerfile) cannot load plugins anyway; they
# get the tag too, so that every build compiles the same code.
TAGS := kustomize_disable_go_plugin_support
export GOFLAGS := $(strip $(GOFLAGS) -tags=$(TAGS))

# VERSION is stamped into the binary; the commit comes from Go's VCS stamp
# (-buildvcs=auto overrides a GOFLAGS=-buildvcs=false of the environment).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

## build: the trellis binary in bin/, stamped with its version and commit
build:
	$(GO) build -buildvcs=auto -ldflags "$(LDFLAGS)" -o $(TRELLIS) ./cmd/trellis

## release: static binaries for linux and darwin on amd64 and arm64, version-stamped, stripped, with SHA256SUMS, in bin/release/
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
RELEASE_DIR := $(BIN)/release
release:
	rm -rf $(RELEASE_DIR) && mkdir -p $(RELEASE_DIR)
	set -e; for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		echo "building $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -buildvcs=auto -ldflags "-s -w $(LDFLAGS)" \
			-o $(RELEASE_DIR)/trellis-$(VERSION)-$$os-$$arch ./cmd/trellis; \
	done
	cd $(RELEASE_DIR) && sha256sum trellis-* > SHA256SUMS && ls -l && cat SHA256SUMS

# RACE_PKGS are the concurrent parts (the render workers, the daemon, the elections, the lineage writer, the
# pull-request watcher): `make test` runs their tests under the race
# detector, and every other package's without it. TestLineageWriterRace (a
# liveness race against a git CLI pushing flat out, too slow to win under
# -race) runs without it.
RACE_PKGS := ./render/ ./reconcile/daemon/ ./reconcile/elect/ ./reconcile/lineage/ ./reconcile/pullrequest/

## test: every test, against a real kube-apiserver and etcd (built by `make tools`)
## and, for the dashboard, a real headless Chromium (installed by `make browser`); RACE_PKGS under -race
test: tools browser
	TRELLIS_TOOLS_BIN=$(TOOLS_BIN) $(GO) test $(TESTFLAGS) -count=1 $$($(GO) list ./... | grep -v -x -F $(foreach p,$(RACE_PKGS),-e trellis.dev/trellis/$(patsubst ./%/,%,$(p))))
	$(MAKE) --no-print-directory test-race

## test-race: the tests of RACE_PKGS under the race detector
test-race: tools
	TRELLIS_TOOLS_BIN=$(TOOLS_BIN) $(GO) test -race $(TESTFLAGS) -count=1 $(RACE_PKGS)
	$(GO) test $(TESTFLAGS) -count=1 -run '^TestLineageWriterRace$$' ./reconcile/lineage/

## browser: Chromium for the dashboard's browser tests: Debian's chromium
## package, installed with apt-get when /usr/bin/chromium is missing (as root),
## unless $$TRELLIS_CHROMIUM names another binary
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -n "$$TRELLIS_CHROMIUM" ] || [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "make browser: no $(CHROMIUM): install Debian's chromium package (apt-get install chromium), or set TRELLIS_CHROMIUM to a Chromium binary" >&2; exit 1; fi; \
	echo "installing chromium (apt-get)"; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

## test-short: the tests that need no control plane
test-short:
	$(GO) test $(TESTFLAGS) -short -count=1 ./...

## bench: the benchmarks whose results the README reports
bench: tools
	TRELLIS_TOOLS_BIN=$(TOOLS_BIN) $(GO) test -run '^$$' -bench 'Render1000|ConfinedLoaderCost' -benchmem -benchtime 5x ./render/
	TRELLIS_TOOLS_BIN=$(TOOLS_BIN) $(GO) test -run '^$$' -bench 'RenderScale' -benchmem -benchtime 2x -timeout 30m ./render/
	TRELLIS_TOOLS_BIN=$(TOOLS_BIN) $(GO) test -run '^$$' -bench 'RenderIncremental' -benchmem -benchtime 5x -timeout 30m ./render/
	TRELLIS_TOOLS_BIN=$(TOOLS_BIN) $(GO) test -run '^$$' -bench . -benchmem -benchtime 3x -timeout 30m ./reconcile/
	TRELLIS_TOOLS_BIN=$(TOOLS_BIN) $(GO) test -run '^$$' -bench . -benchmem -benchtime 10x ./reconcile/daemon/ ./reconcile/lineage/ ./source/
	TRELLIS_TOOLS_BIN=$(TOOLS_BIN) $(GO) test -run '^$$' -bench ShardFailover -benchtime 3x ./reconcile/elect/
	TRELLIS_TOOLS_BIN=$(TOOLS_BIN) $(GO) test -run '^$$' -bench 'BenchmarkApplyCLI' -benchtime 1x -timeout 30m ./cmd/trellis/

## lint: vet and formatting
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./render/
	$(GO) test -run '^$$' -fuzz '^FuzzWalk$$' -fuzztime $(FUZZTIME) ./render/
	$(GO) test -run '^$$' -fuzz '^FuzzLoadTree$$' -fuzztime $(FUZZTIME) ./render/
	$(GO) test -run '^$$' -fuzz '^FuzzFastPath$$' -fuzztime $(FUZZTIME) ./render/
	$(GO) test -run '^$$' -fuzz '^FuzzAppendJSON$$' -fuzztime $(FUZZTIME) ./render/
	$(GO) test -run '^$$' -fuzz FuzzWebhook -fuzztime $(FUZZTIME) ./reconcile/daemon/
	$(GO) test -run '^$$' -fuzz FuzzParseRef -fuzztime $(FUZZTIME) ./source/
	$(GO) test -run '^$$' -fuzz FuzzCommitURL -fuzztime $(FUZZTIME) ./reconcile/lineage/

## demo: start a local control plane with the upstream CRDs, apply examples/ to it as a Git repo with lineage, leave it running
# examples/ declares two clusters, staging and prod, with the same namespaces;
# one local control plane can only be one of them, so the demo applies
# staging, through the dev cluster's kubeconfig context named explicitly
# (trellis never falls back to the kubeconfig's current context).
# examples/ is copied to a fresh Git repo, whose lineage branch receives the
# run's record.
DEMO_REPO ?= $(CURDIR)/.cache/demo/config
DEMO_GIT = git -C $(DEMO_REPO) -c user.name=demo -c user.email=demo@localhost -c commit.gpgsign=false
DEMO_KUBE = --kubeconfig $(DEVCLUSTER_DIR)/kubeconfig --context $(DEVCLUSTER_CONTEXT)
demo: build devcluster-up
	rm -rf $(DEMO_REPO) && mkdir -p $(DEMO_REPO) && cp -R examples/. $(DEMO_REPO)
	$(DEMO_GIT) init -q -b main && $(DEMO_GIT) add . && $(DEMO_GIT) commit -q -m "examples"
	$(TRELLIS) apply $(DEMO_REPO) --cluster staging $(DEMO_KUBE) \
		--lineage-repo $(DEMO_REPO) --lineage-state-dir $(CURDIR)/.cache/demo/lineage-state
	$(TRELLIS) lineage list --repo $(DEMO_REPO)
	@echo
	@echo "examples/ (cluster staging) is applied to the local control plane, context $(DEVCLUSTER_CONTEXT)"
	@echo "of $(DEVCLUSTER_DIR)/kubeconfig, which keeps running."
	@echo "The endpoint mnist waits for the first successful run of its pipeline (no Argo controller runs here)."
	@echo "  look:        kubectl $(DEMO_KUBE) get workflowtemplates,workflows,experiments,inferenceservices -A"
	@echo "  lineage:     $(TRELLIS) lineage show --repo $(DEMO_REPO) RUN-ID [--log]"
	@echo "  again:       $(TRELLIS) apply $(DEMO_REPO) --cluster staging $(DEMO_KUBE)   (a no-op)"
	@echo "  dashboard:   make demo-dashboard   (runs trellis serve until Ctrl-C), then open $(DEMO_DASHBOARD)"
	@echo "  stop it:     make devcluster-down"

# demo-dashboard runs `trellis serve` on the demo's repo and the dev cluster, in
# the foreground, with its dashboard on $(DEMO_DASHBOARD). examples/ reaches
# staging through the kubeconfig context ml-staging: a copy of the dev
# cluster's kubeconfig names its context so. prod (context ml-prod) has no
# cluster here: the dashboard shows why it fails. --source-id local is
# `trellis apply`'s: serve takes over the inventory the demo's apply wrote.
DEMO_DASHBOARD_ADDR ?= 127.0.0.1:8081
DEMO_DASHBOARD = http://$(DEMO_DASHBOARD_ADDR)/ui/
DEMO_KUBECONFIG = $(CURDIR)/.cache/demo/kubeconfig
demo-dashboard: build
	@test -d $(DEMO_REPO)/.git || { echo "run make demo first" >&2; exit 1; }
	sed 's/\b$(DEVCLUSTER_CONTEXT)\b/ml-staging/g' $(DEVCLUSTER_DIR)/kubeconfig > $(DEMO_KUBECONFIG)
	@echo "dashboard: $(DEMO_DASHBOARD)   (Ctrl-C stops)"
	$(TRELLIS) serve --repo file://$(DEMO_REPO) --ref main --kubeconfig $(DEMO_KUBECONFIG) \
		--listen 127.0.0.1:0 --dashboard-addr $(DEMO_DASHBOARD_ADDR) --interval 30s \
		--source-id local --state-dir $(CURDIR)/.cache/demo/serve-state

clean:
	rm -rf $(BIN) .cache/demo
