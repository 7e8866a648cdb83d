# keybridge — see README.md. `make demo` and `make test` work on a fresh machine.
GO        ?= go
BIN       := bin
FUZZTIME  ?= 30s

.PHONY: all build test demo fuzz bench testdata clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

demo: build
	bash scripts/demo.sh

# Each format reader's fuzz target runs for FUZZTIME; their seeds also run in `make test`.
fuzz:
	@for t in $$($(GO) test -list '^Fuzz' ./keystore | grep '^Fuzz'); do \
		echo "== $$t ($(FUZZTIME))"; \
		$(GO) test ./keystore -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

bench: build
	bash bench/run.sh

# Regenerates the fixtures with keytool and openssl (see testdata/README.md).
testdata:
	bash testdata/gen.sh

clean:
	rm -rf $(BIN)
