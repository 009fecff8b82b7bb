# s3c — make test is what CI runs (.ci/run). It needs Go and Debian's
# package manager: the MinIO server the tests talk to is built from the Go
# module proxy on first use (a few minutes, cached under ~/.cache/s3c)
# unless S3C_TEST_ENDPOINT points at one, and SoftHSM2 (a PKCS#11 token
# for the HSM keyring's tests) is installed when missing.

GO ?= go
FUZZTIME ?= 30s

.PHONY: all build install man test check softhsm bench bench-rewrap fuzz demo dev dev-stop clean

all: build

build:
	$(GO) build -o bin/s3c ./cmd/s3c

# Puts s3c in $(go env GOBIN), else $(go env GOPATH)/bin, and its man
# pages and bash, zsh and fish completion scripts under PREFIX (default
# ~/.local), where man, bash-completion, zsh (with PREFIX/share/zsh/
# site-functions in fpath) and fish look for a user's own. A release build
# sets the version: make install LDFLAGS='-X main.version=v1.2.3'.
LDFLAGS ?=
PREFIX ?= $(HOME)/.local
MANDIR ?= $(PREFIX)/share/man/man1
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
install:
	$(GO) install -ldflags '$(LDFLAGS)' ./cmd/s3c
	@set -e; bin="$$($(GO) env GOBIN)"; [ -n "$$bin" ] || bin="$$($(GO) env GOPATH)/bin"; s3c="$$bin/s3c"; \
	echo "installed $$s3c"; \
	"$$s3c" gen-docs --quiet --man "$(MANDIR)"; \
	echo "man pages: $(MANDIR)/s3c.1, s3c-put.1, ... (man s3c)"; \
	mkdir -p "$(BASHCOMPDIR)" "$(ZSHCOMPDIR)" "$(FISHCOMPDIR)"; \
	"$$s3c" completion bash > "$(BASHCOMPDIR)/s3c"; echo "bash completion: $(BASHCOMPDIR)/s3c"; \
	"$$s3c" completion zsh > "$(ZSHCOMPDIR)/_s3c"; echo "zsh completion: $(ZSHCOMPDIR)/_s3c (put its directory in fpath)"; \
	"$$s3c" completion fish > "$(FISHCOMPDIR)/s3c.fish"; echo "fish completion: $(FISHCOMPDIR)/s3c.fish"

# The man pages, generated from the command definitions, into ./man.
man: build
	@mkdir -p man && rm -f man/s3c.1 man/s3c-*.1
	bin/s3c gen-docs --man man

# A local playground: MinIO and the KMS test server in the background, a
# bucket s3c-dev, and the export lines to paste. State (pids, logs, MinIO's
# data) in $(DEV_STATE); make dev-stop stops both.
DEV_STATE ?= .dev
DEV_S3_PORT ?= 9000
DEV_KMS_PORT ?= 4566
dev:
	@$(GO) run ./internal/cmd/devenv start -state $(DEV_STATE) -s3-port $(DEV_S3_PORT) -kms-port $(DEV_KMS_PORT)

dev-stop:
	@$(GO) run ./internal/cmd/devenv stop -state $(DEV_STATE)

# Static checks, then every test (fuzz seeds included) under the race
# detector, all packages sharing one MinIO. The PKCS#11 tests need
# SoftHSM2 (a real PKCS#11 token): installed here when missing.
test: check softhsm
	$(GO) run ./internal/cmd/withminio -- $(GO) test -race -count=1 -timeout 30m ./...

# SoftHSM2 from the Debian package softhsm2, for keyring/pkcs11 and the
# CLI's --pkcs11-key tests (CI runs as root; elsewhere sudo is used).
softhsm:
	@if ! command -v softhsm2-util >/dev/null 2>&1; then \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "softhsm2-util not found: installing the Debian package softhsm2 (apt-get install -y softhsm2)"; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y softhsm2 || { echo "retrying after apt-get update"; $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y softhsm2; }; \
	fi

check:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# One report: encrypted vs plain put/get throughput and peak RSS per size
# (64 MiB to 4 GiB) measured side by side, 4 KiB objects × 32 workers,
# the in-memory cipher against crypto/cipher, and the targets met or not.
# BENCHFLAGS="-sizes 64M,256M -runs 1" for a shorter run. The go test
# benchmarks: go test -run XXX -bench . ./internal/aesgcm, and
# ./s3crypto -bench 'Large|Small' under withminio.
BENCHFLAGS ?=
bench:
	$(GO) run ./internal/cmd/withminio -- $(GO) run ./internal/cmd/bench $(BENCHFLAGS)

# Key rotation: s3c rewrap against cp re-encryption, 10,000 small objects
# and one 1 GiB object: objects/s and bytes of object body moved (0 for
# rewrap, checked). BENCHREWRAPFLAGS="-n 1000 -large 256M" for a shorter run.
BENCHREWRAPFLAGS ?=
bench-rewrap:
	$(GO) run ./internal/cmd/withminio -- $(GO) run ./internal/cmd/benchrewrap $(BENCHREWRAPFLAGS)

# Longer fuzzing of the decoders and the decrypt path.
fuzz:
	$(GO) test -run XXX -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./metadata
	$(GO) test -run XXX -fuzz FuzzMatchesOneShot -fuzztime $(FUZZTIME) ./internal/aesgcm
	$(GO) run ./internal/cmd/withminio -- $(GO) test -run XXX -fuzz FuzzDecrypt -fuzztime $(FUZZTIME) ./s3crypto

# Start a local MinIO, encrypt a file into it, show what is stored, get it
# back and verify it, then stop MinIO.
demo: build
	$(GO) run ./internal/cmd/demo -s3c bin/s3c

clean:
	rm -rf bin man
