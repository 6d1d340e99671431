# cleanroom: the two commands a newcomer needs are `make demo` and `make test`.

GO      ?= go
BIN     := bin/cleanroom
PKGS    := ./...
# Arguments for the demo, e.g. make demo DEMO_ARGS='--enterprises 1000000'
DEMO_ARGS ?=

.PHONY: all build demo test test-short test-crash test-memory bench bench-peers bench-audit fuzz load check clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/cleanroom

## demo: build the binary and run the green-credit scenario end to end
demo: build
	$(GO) run ./examples/greencredit --bin $(BIN) $(DEMO_ARGS)

## test: every test, with the race detector; then, without it, the tests
## that take fewer samples under it at their full size (DP statistics,
## sampled ledger flips)
test:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	$(GO) test -count=1 -run '^(TestNoiseMoments|TestEmpiricalEpsilon)$$' ./enclave/
	$(GO) test -count=1 -run '^TestVerifyDetectsSampledFlips$$' ./ledger/

## test-crash: SIGKILL a node 200 times during a stream of queries; check the ledger after every restart
test-crash:
	CLEANROOM_CRASH_TRIALS=200 $(GO) test -race -count=1 -timeout 60m -run '^TestCrash$$' ./internal/crashtest/

## test-memory: a 10 GiB upload stream through the node's ingest must raise resident memory by less than 64 MiB
test-memory:
	CLEANROOM_INGEST_GIB=10 $(GO) test -count=1 -v -timeout 60m -run '^TestIngestMemoryFlat$$' ./enclave/

test-short:
	$(GO) test -short -count=1 $(PKGS)

## bench: the figures the issues name (uploads, 1M-row GROUP BY, accuracy table, decisions/s, Evaluate, ledger, replay)
bench:
	$(GO) test -run='^$$' -bench=UploadEndToEnd -benchtime=5x ./node/
	$(GO) test -run='^$$' -bench=Decisions -benchtime=20000x ./node/
	$(GO) test -run='^$$' -bench='Ingest|Execute|HEJoin3' -benchmem -benchtime=5x ./enclave/
	$(GO) test -run='^$$' -bench=Accuracy -benchtime=1x -timeout 30m ./enclave/
	$(GO) test -run='^$$' -bench=. -benchmem ./connectors/csv/ ./connectors/jsonl/ ./query/ ./policy/
	$(GO) test -run='^$$' -bench=EncodePart -benchtime=10x ./internal/columnar/
	$(GO) test -run='^$$' -bench=Reader -benchtime=3x ./connectors/postgres/
	$(GO) test -run='^$$' -bench=Reader -benchmem ./connectors/parquet/
	CLEANROOM_UPLOAD_GIB=1 $(GO) test -run='^$$' -bench=UploadLarge -benchtime=1x -timeout 30m ./node/
	CLEANROOM_UPLOAD_FROM_ROWS=5000000 $(GO) test -run='^$$' -bench=UploadFrom -benchtime=1x -timeout 30m ./node/
	$(GO) test -run='^$$' -bench=Evaluate -benchtime=20000x ./state/
	$(GO) test -run='^$$' -bench='AppendConcurrent|Verify$$|Proofs' ./ledger/
	$(GO) test -run='^$$' -bench=VerifyReplay -benchtime=1x ./audit/
	$(GO) test -run='^$$' -bench=. -benchtime=5x ./protocols/mhe/
	$(GO) test -run='^$$' -bench=HEQuery -benchtime=10x -timeout 30m ./node/
	$(MAKE) bench-peers

## bench-peers: issue 8's peers against the sealed engine, in the bench/ module (bench/README.md):
## a quick size by default; the issue's with BENCH_ENTERPRISES=1000000 BENCH_LOANS=10000000
BENCH_ENTERPRISES ?= 100000
BENCH_LOANS ?= 1000000
bench-peers:
	cd bench && CLEANROOM_BENCH_PEERS=1 CLEANROOM_BENCH_ENTERPRISES=$(BENCH_ENTERPRISES) CLEANROOM_BENCH_LOANS=$(BENCH_LOANS) $(GO) test -run='^TestPeers$$' -count=1 -timeout=0

## bench-audit: audit verify with replay over a million entries (a few minutes)
bench-audit:
	CLEANROOM_AUDIT_ENTRIES=1000000 GOGC=400 $(GO) test -run='^$$' -bench=VerifyReplay -benchtime=1x -timeout 30m ./audit/

## fuzz: run every fuzz target for FUZZTIME each (default 60s), one worker each
## (FUZZPARALLEL). A crasher goes to the package's testdata/fuzz/ and runs in
## make test from then on: commit it with its fix. TestFuzzTargetsInMakefile
## fails when a fuzz target is missing from FUZZ_TARGETS.
FUZZTIME ?= 60s
FUZZPARALLEL ?= 1
FUZZ_TARGETS := \
	./query/:FuzzCompile \
	./policy/:FuzzParseLetter \
	./policy/:FuzzMarshalLetter \
	./policy/:FuzzEvaluate \
	./policy/:FuzzParseCalendar \
	./internal/statement/:FuzzStatement \
	./internal/api/:FuzzReadKeySwitchRequest \
	./internal/api/:FuzzReadHEAnswer \
	./internal/heupload/:FuzzRead \
	./node/:FuzzAPIBodies \
	./state/:FuzzDecodeEntry \
	./ledger/:FuzzParseCheckpoint \
	./ledger/:FuzzParseProof \
	./connectors/csv/:FuzzReader \
	./connectors/csv/:FuzzLimit \
	./connectors/csv/:FuzzDecode \
	./connectors/csv/:FuzzGB18030 \
	./connectors/csv/:FuzzFastPath \
	./connectors/jsonl/:FuzzReader \
	./connectors/:FuzzCSVWriter \
	./connectors/postgres/:FuzzParseURL \
	./connectors/parquet/:FuzzReader \
	./protocols/dp/:FuzzParseEpsilon \
	./protocols/fingerprint/:FuzzParseKey \
	./protocols/mhe/:FuzzParseCiphertext \
	./protocols/mhe/:FuzzParsePublicKey \
	./protocols/mhe/:FuzzParseShares \
	./protocols/mhe/:FuzzUnmarshalSecrets \
	./examples/greencredit/gen/:FuzzValidUSCC \
	./schema/:FuzzParseFast \
	./enclave/:FuzzReadColumns \
	./enclave/:FuzzIngestPart \
	./internal/columnar/:FuzzPartReader
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "== $$fn $$pkg"; \
		$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=20x -parallel=$(FUZZPARALLEL) $$pkg; \
	done

## load: 50 operators send allowed and denied queries to a node on loopback for
## LOADSECONDS (default 60); reports p50 and p99 latency, checks budgets,
## memory and audit verify
LOADSECONDS ?= 60
LOADOPERATORS ?= 50
load:
	CLEANROOM_LOAD_SECONDS=$(LOADSECONDS) CLEANROOM_LOAD_OPERATORS=$(LOADOPERATORS) $(GO) test -count=1 -v -timeout 30m -run '^TestLoad$$' ./internal/loadtest/

## check: formatting, vet, staticcheck, and a tidy go.mod
check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1)
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	$(GO) mod tidy && git diff --exit-code go.mod go.sum

clean:
	rm -rf bin
