# trellis: the two commands a new user needs are `make demo` and `make test`.

GO ?= go
BIN := $(CURDIR)/bin
TRELLIS := $(BIN)/trellis
# Go test flags; CI passes nothing.
TESTFLAGS ?=
FUZZTIME ?= 30s

include test/controlplane.mk

.PHONY: all build test test-short bench lint fuzz demo demo-down clean

all: build

## build: the trellis binary in bin/
build:
	$(GO) build -o $(TRELLIS) ./cmd/trellis

## test: every test, against a real kube-apiserver and etcd (built by `make tools`)
test: tools
	TRELLIS_TOOLS_BIN=$(TOOLS_BIN) $(GO) test $(TESTFLAGS) -count=1 ./...

## test-short: the tests that need no control plane
test-short:
	$(GO) test $(TESTFLAGS) -short -count=1 ./...

## bench: the benchmarks whose results the README reports
bench: tools
	TRELLIS_TOOLS_BIN=$(TOOLS_BIN) $(GO) test -run '^$$' -bench . -benchmem -benchtime 5x ./render/

## lint: vet and formatting
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZTIME) ./render/

## demo: validate and render examples/ (the main job on an embedded default)
demo: build
	$(TRELLIS) validate examples
	$(TRELLIS) render examples --out $(CURDIR)/.cache/demo/rendered

clean:
	rm -rf $(BIN) .cache/demo
