# keybridge — see README.md. `make demo` and `make test` work on a fresh machine.
GO        ?= go
BIN       := bin
FUZZTIME  ?= 30s
# urfave/cli's man-page and markdown generators are never used; leaving them out saves
# 1.5 ms of package initialisation on every start (GODEBUG=inittrace=1).
TAGS      ?= urfave_cli_no_docs

.PHONY: all build test demo fuzz bench testdata clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -tags '$(TAGS)' -o $(BIN)/ ./cmd/...

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	@# The race detector shuffles the scheduler's order on purpose; the order the
	@# proxy's readers are woken in is checked without it.
	$(GO) test -count=1 -run '^TestReadyQueueWakesInArrivalOrder$$' ./proxy/internal/rawio

demo: build
	bash scripts/demo.sh

# Every fuzz target (the keystore format readers, the AWS endpoint's request parser,
# the proxy's parsers) runs for FUZZTIME; their seeds also run in `make test`.
FUZZPKGS ?= ./keystore ./awsiam/awstest ./proxy
# Go minimizes each new interesting input for up to a minute by default, reporting no
# executions meanwhile; a few seconds keeps the run on fuzzing.
FUZZMINTIME ?= 5s
fuzz:
	@for p in $(FUZZPKGS); do \
		for t in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
			echo "== $$p $$t ($(FUZZTIME))"; \
			$(GO) test $$p -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) || exit 1; \
		done; \
	done

bench: build
	bash bench/run.sh

# Regenerates the fixtures with keytool and openssl (see testdata/README.md).
testdata:
	bash testdata/gen.sh

clean:
	rm -rf $(BIN)
