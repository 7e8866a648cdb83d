# keybridge — see README.md. `make demo` and `make test` work on a fresh machine.
GO        ?= go
BIN       := bin
FUZZTIME  ?= 30s
# urfave/cli's man-page and markdown generators are never used; leaving them out saves
# 1.5 ms of package initialisation on every start (GODEBUG=inittrace=1).
TAGS      ?= urfave_cli_no_docs

# make install: the three programs into $(DESTDIR)$(PREFIX)/bin, their man pages and
# bash and zsh completion under $(DESTDIR)$(PREFIX)/share.
PREFIX    ?= /usr/local
DESTDIR   ?=
PROGRAMS  := jks2pem certup jksproxy
DOCS      := $(BIN)/docs
BINDIR     = $(DESTDIR)$(PREFIX)/bin
MANDIR     = $(DESTDIR)$(PREFIX)/share/man/man1
BASHDIR    = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR     = $(DESTDIR)$(PREFIX)/share/zsh/site-functions

.PHONY: all build docs install uninstall test demo fuzz bench testdata clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -tags '$(TAGS)' -o $(BIN)/ ./cmd/...

# Man pages and completion scripts, written by each program's generator build
# (-tags gendocs: the same flag definitions, plus internal/clidocs) into $(DOCS).
docs:
	@mkdir -p $(DOCS)/gen $(DOCS)/man1 $(DOCS)/bash $(DOCS)/zsh
	$(GO) build -tags gendocs -o $(DOCS)/gen/ $(addprefix ./cmd/,$(PROGRAMS))
	@for p in $(PROGRAMS); do \
		$(DOCS)/gen/$$p gendocs man >$(DOCS)/man1/$$p.1 && \
		$(DOCS)/gen/$$p gendocs bash >$(DOCS)/bash/$$p && \
		$(DOCS)/gen/$$p gendocs zsh >$(DOCS)/zsh/_$$p || exit 1; \
	done
	@echo "man pages and completion scripts in $(DOCS)"

install: build docs
	install -d $(BINDIR) $(MANDIR) $(BASHDIR) $(ZSHDIR)
	install -m 0755 $(addprefix $(BIN)/,$(PROGRAMS)) $(BINDIR)/
	install -m 0644 $(addprefix $(DOCS)/man1/,$(addsuffix .1,$(PROGRAMS))) $(MANDIR)/
	install -m 0644 $(addprefix $(DOCS)/bash/,$(PROGRAMS)) $(BASHDIR)/
	install -m 0644 $(addprefix $(DOCS)/zsh/_,$(PROGRAMS)) $(ZSHDIR)/

uninstall:
	rm -f $(addprefix $(BINDIR)/,$(PROGRAMS)) $(addprefix $(MANDIR)/,$(addsuffix .1,$(PROGRAMS))) \
		$(addprefix $(BASHDIR)/,$(PROGRAMS)) $(addprefix $(ZSHDIR)/_,$(PROGRAMS))

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	@# The race detector shuffles the scheduler's order on purpose; the order the
	@# proxy's readers are woken in is checked without it.
	$(GO) test -count=1 -run '^TestReadyQueueWakesInArrivalOrder$$' ./proxy/internal/rawio
	@# Floods of half a million HTTP/2 frames are ten times slower under it.
	$(GO) test -count=1 -run '^TestH2ControlFlood$$' ./proxy

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
