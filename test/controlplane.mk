# Control plane for tests and `make demo`: kube-apiserver and etcd, built from
# the separate Go module in test/tools, and a detached dev cluster.
#
#   make tools             build kube-apiserver and etcd into $(TOOLS_BIN), a
#                          directory of ~/.cache/trellis/tools keyed by the
#                          content of test/tools (nothing to do when it is
#                          built already, or KUBEBUILDER_ASSETS is set)
#   make print-tools-bin   print that directory
#   make devcluster-up     start (or reuse) the dev cluster in $(DEVCLUSTER_DIR)
#   make devcluster-down   stop it and remove $(DEVCLUSTER_DIR)
#
# Include it from the root Makefile: `include test/controlplane.mk`.

GO ?= go
TOOLS_DIR := test/tools
# What the binaries are built from. The build goes to a directory of the user's
# cache named by a hash of these files' content, so every clone and worktree of
# the repository shares one build, and a change to the pinned versions builds
# anew. Keep in step with toolsKey in test/controlplane/binaries.go.
TOOLS_DEPS := $(TOOLS_DIR)/go.mod $(TOOLS_DIR)/go.sum $(TOOLS_DIR)/etcd/main.go
TOOLS_KEY := $(shell cat $(TOOLS_DEPS) | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-16)
TOOLS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/trellis/tools
TOOLS_BIN ?= $(TOOLS_CACHE)/$(TOOLS_KEY)
DEVCLUSTER_DIR ?= $(CURDIR)/.cache/devcluster
# The dev cluster's context in its kubeconfig, which `make demo` names.
DEVCLUSTER_CONTEXT ?= trellis-dev
# Stamp kube-apiserver with its real version: built from the module it would
# otherwise report v0.0.0-master, which confuses version checks. Recursive
# variables, so `go list` only runs when kube-apiserver is rebuilt.
KUBE_VERSION = $(shell cd $(TOOLS_DIR) && $(GO) list -mod=mod -m -f '{{.Version}}' k8s.io/kubernetes)
KUBE_VERSION_PARTS = $(subst ., ,$(patsubst v%,%,$(KUBE_VERSION)))
KUBE_VERSION_PKG := k8s.io/component-base/version
KUBE_LDFLAGS = -X $(KUBE_VERSION_PKG).gitVersion=$(KUBE_VERSION) \
	-X $(KUBE_VERSION_PKG).gitMajor=$(word 1,$(KUBE_VERSION_PARTS)) \
	-X $(KUBE_VERSION_PKG).gitMinor=$(word 2,$(KUBE_VERSION_PARTS)) \
	-X $(KUBE_VERSION_PKG).gitTreeState=clean
# -mod=mod: test/tools pins k8s.io/kubernetes' staging modules with replace
# directives; let go resolve them even when a Go version adds requirements.
TOOLS_GO_BUILD = cd $(TOOLS_DIR) && $(GO) build -mod=mod -buildvcs=false

.PHONY: tools print-tools-bin devcluster-up devcluster-down

print-tools-bin:
	@echo $(TOOLS_BIN)

ifdef KUBEBUILDER_ASSETS
tools:
	@echo "tools: using etcd and kube-apiserver from KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS)"
else
tools: $(TOOLS_BIN)/kube-apiserver $(TOOLS_BIN)/etcd

$(TOOLS_BIN)/kube-apiserver:
	@mkdir -p $(TOOLS_BIN)
	@echo "tools: building kube-apiserver into $(TOOLS_BIN) (several minutes on a cold build cache)"
	$(TOOLS_GO_BUILD) -ldflags "$(KUBE_LDFLAGS)" -o $@.tmp k8s.io/kubernetes/cmd/kube-apiserver
	@mv $@.tmp $@

$(TOOLS_BIN)/etcd:
	@mkdir -p $(TOOLS_BIN)
	@echo "tools: building etcd into $(TOOLS_BIN)"
	$(TOOLS_GO_BUILD) -o $@.tmp ./etcd
	@mv $@.tmp $@
endif

# A build is written beside its target and renamed into place, so an
# interrupted one leaves nothing that looks built.

# The dev cluster's processes run detached, so they outlive make; `up` on a
# running cluster reuses it.
devcluster-up: tools
	TRELLIS_TOOLS_BIN=$(TOOLS_BIN) $(GO) run ./cmd/trellis-devcluster up --dir $(DEVCLUSTER_DIR) --context $(DEVCLUSTER_CONTEXT)

devcluster-down:
	$(GO) run ./cmd/trellis-devcluster down --dir $(DEVCLUSTER_DIR)
