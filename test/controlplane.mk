# Control plane for tests and `make demo`: kube-apiserver and etcd, built from
# the separate Go module in test/tools, and a detached dev cluster.
#
#   make tools             build kube-apiserver and etcd into $(TOOLS_BIN)
#                          (nothing to do when KUBEBUILDER_ASSETS is set)
#   make devcluster-up     start (or reuse) the dev cluster in $(DEVCLUSTER_DIR)
#   make devcluster-down   stop it and remove $(DEVCLUSTER_DIR)
#
# Include it from the root Makefile: `include test/controlplane.mk`.

GO ?= go
TOOLS_DIR := test/tools
TOOLS_BIN ?= $(CURDIR)/.cache/bin
DEVCLUSTER_DIR ?= $(CURDIR)/.cache/devcluster
# Rebuild the binaries when the pinned versions or the etcd wrapper change.
TOOLS_DEPS := $(TOOLS_DIR)/go.mod $(TOOLS_DIR)/go.sum $(TOOLS_DIR)/etcd/main.go
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

.PHONY: tools devcluster-up devcluster-down

ifdef KUBEBUILDER_ASSETS
tools:
	@echo "tools: using etcd and kube-apiserver from KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS)"
else
tools: $(TOOLS_BIN)/kube-apiserver $(TOOLS_BIN)/etcd

$(TOOLS_BIN)/kube-apiserver: $(TOOLS_DEPS)
	@mkdir -p $(TOOLS_BIN)
	@echo "tools: building kube-apiserver (several minutes on a cold build cache)"
	$(TOOLS_GO_BUILD) -ldflags "$(KUBE_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kube-apiserver
	@touch $@

$(TOOLS_BIN)/etcd: $(TOOLS_DEPS)
	@mkdir -p $(TOOLS_BIN)
	@echo "tools: building etcd"
	$(TOOLS_GO_BUILD) -o $@ ./etcd
	@touch $@
endif

# The dev cluster's processes run detached, so they outlive make; `up` on a
# running cluster reuses it.
devcluster-up: tools
	TRELLIS_TOOLS_BIN=$(TOOLS_BIN) $(GO) run ./cmd/trellis-devcluster up --dir $(DEVCLUSTER_DIR)

devcluster-down:
	$(GO) run ./cmd/trellis-devcluster down --dir $(DEVCLUSTER_DIR)
