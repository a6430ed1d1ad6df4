# streamd — see README.md. Every target works on a fresh machine with Go 1.26.
GO      ?= go
PKGS    := ./...
# The default test run: the race detector over every package of the engine and
# of bench/ (its own module). Long soak and load runs live behind `make soak`.
TESTFLAGS ?= -race -count=1 -timeout 15m

.PHONY: run test test-engine test-bench bench-smoke build vet fmt-check fuzz bench soak ci clean

run: ## start the daemon with embedded defaults (./streamd-data, 127.0.0.1:8080)
	$(GO) run ./cmd/streamd serve

test: fmt-check vet test-engine test-bench bench-smoke ## what CI runs

test-engine:
	$(GO) test $(TESTFLAGS) $(PKGS)

test-bench:
	cd bench && $(GO) test $(TESTFLAGS) ./...

# `bench --quick` as a smoke test: it must complete and write valid JSON (no timing checks).
BENCH_JSON ?= $(or $(TMPDIR),/tmp)/streamd-bench-quick.json
bench-smoke:
	cd bench && $(GO) run . --quick --quiet --json $(BENCH_JSON) > /dev/null
	node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); if (!r.scenarios || !r.scenarios.length) throw new Error("no scenarios"); console.log("bench --quick: " + r.scenarios.length + " scenarios")' $(BENCH_JSON)

build: ## bin/streamd and its benchmark plugin bin/streamd-bench ("streamd bench" runs it; bench/ is its own module)
	$(GO) build -o bin/streamd ./cmd/streamd
	cd bench && $(GO) build -o ../bin/streamd-bench .

vet:
	$(GO) vet $(PKGS)
	cd bench && $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Each decoder's fuzz target for FUZZTIME (default 20s).
FUZZTIME ?= 20s
fuzz:
	@for pkg in ./stream/internal/wire ./stream/internal/compress; do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep ^Fuzz); do \
	    echo "== $$pkg $$f"; $(GO) test -run XXX -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; done

bench: ## Go benchmarks: session vs raw WebSocket, codec, flow control
	$(GO) test -run XXX -bench . -benchtime 2s ./stream/ ./transport/websocket/

soak: ## long runs (not in the default test run)
	$(GO) test -race -count=1 -timeout 60m -tags soak ./...

clean:
	rm -rf bin streamd-data
