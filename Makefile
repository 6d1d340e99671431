# cleanroom: the two commands a newcomer needs are `make demo` and `make test`.

GO      ?= go
BIN     := bin/cleanroom
PKGS    := ./...
# Arguments for the demo, e.g. make demo DEMO_ARGS='--enterprises 1000000'
DEMO_ARGS ?=

.PHONY: all build demo test test-short test-crash bench bench-audit fuzz check clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/cleanroom

## demo: build the binary and run the green-credit scenario end to end
demo: build
	$(GO) run ./examples/greencredit --bin $(BIN) $(DEMO_ARGS)

## test: every test, with the race detector
test:
	$(GO) test -race -count=1 $(PKGS)

## test-crash: SIGKILL a node 200 times during a stream of queries; check the ledger after every restart
test-crash:
	CLEANROOM_CRASH_TRIALS=200 $(GO) test -race -count=1 -timeout 60m -run '^TestCrash$$' ./internal/crashtest/

test-short:
	$(GO) test -short -count=1 $(PKGS)

## bench: the figures the issues name (uploads, 1M-row GROUP BY, decisions/s, Evaluate, ledger, replay)
bench:
	$(GO) test -run='^$$' -bench=UploadEndToEnd -benchtime=5x ./node/
	$(GO) test -run='^$$' -bench=Decisions -benchtime=20000x ./node/
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=5x ./enclave/
	$(GO) test -run='^$$' -bench=. -benchmem ./connectors/csv/ ./connectors/jsonl/ ./query/ ./policy/
	$(GO) test -run='^$$' -bench=Reader -benchtime=3x ./connectors/postgres/
	$(GO) test -run='^$$' -bench=Reader -benchmem ./connectors/parquet/
	CLEANROOM_UPLOAD_GIB=1 $(GO) test -run='^$$' -bench=UploadLarge -benchtime=1x -timeout 30m ./node/
	$(GO) test -run='^$$' -bench=Evaluate -benchtime=20000x ./state/
	$(GO) test -run='^$$' -bench='AppendConcurrent|Verify$$|Proofs' ./ledger/
	$(GO) test -run='^$$' -bench=VerifyReplay -benchtime=1x ./audit/
	$(GO) test -run='^$$' -bench=. -benchtime=5x ./protocols/mhe/
	$(GO) test -run='^$$' -bench=HEQuery -benchtime=10x -timeout 30m ./node/

## bench-audit: audit verify with replay over a million entries (a few minutes)
bench-audit:
	CLEANROOM_AUDIT_ENTRIES=1000000 GOGC=400 $(GO) test -run='^$$' -bench=VerifyReplay -benchtime=1x -timeout 30m ./audit/

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzCompile -fuzztime=$(FUZZTIME) ./query/
	$(GO) test -run='^$$' -fuzz=FuzzReader -fuzztime=$(FUZZTIME) ./connectors/csv/
	$(GO) test -run='^$$' -fuzz=FuzzParseCheckpoint -fuzztime=$(FUZZTIME) ./ledger/
	$(GO) test -run='^$$' -fuzz=FuzzStatement -fuzztime=$(FUZZTIME) ./internal/statement/
	$(GO) test -run='^$$' -fuzz=FuzzParseLetter -fuzztime=$(FUZZTIME) ./policy/
	$(GO) test -run='^$$' -fuzz=FuzzMarshalLetter -fuzztime=$(FUZZTIME) ./policy/
	$(GO) test -run='^$$' -fuzz=FuzzEvaluate -fuzztime=$(FUZZTIME) ./policy/
	$(GO) test -run='^$$' -fuzz=FuzzParseProof -fuzztime=$(FUZZTIME) ./ledger/
	$(GO) test -run='^$$' -fuzz=FuzzParseEpsilon -fuzztime=$(FUZZTIME) ./protocols/dp/
	$(GO) test -run='^$$' -fuzz=FuzzParseKey -fuzztime=$(FUZZTIME) ./protocols/fingerprint/
	$(GO) test -run='^$$' -fuzz=FuzzParseCiphertext -fuzztime=$(FUZZTIME) ./protocols/mhe/
	$(GO) test -run='^$$' -fuzz=FuzzParsePublicKey -fuzztime=$(FUZZTIME) ./protocols/mhe/
	$(GO) test -run='^$$' -fuzz=FuzzParseShares -fuzztime=$(FUZZTIME) ./protocols/mhe/
	$(GO) test -run='^$$' -fuzz=FuzzUnmarshalSecrets -fuzztime=$(FUZZTIME) ./protocols/mhe/
	$(GO) test -run='^$$' -fuzz=FuzzRead -fuzztime=$(FUZZTIME) ./internal/heupload/
	$(GO) test -run='^$$' -fuzz=FuzzReadKeySwitchRequest -fuzztime=$(FUZZTIME) ./internal/api/
	$(GO) test -run='^$$' -fuzz=FuzzReadHEAnswer -fuzztime=$(FUZZTIME) ./internal/api/
	$(GO) test -run='^$$' -fuzz=FuzzLimit -fuzztime=$(FUZZTIME) ./connectors/csv/
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=$(FUZZTIME) ./connectors/csv/
	$(GO) test -run='^$$' -fuzz=FuzzGB18030 -fuzztime=$(FUZZTIME) ./connectors/csv/
	$(GO) test -run='^$$' -fuzz=FuzzReader -fuzztime=$(FUZZTIME) ./connectors/jsonl/
	$(GO) test -run='^$$' -fuzz=FuzzParseCalendar -fuzztime=$(FUZZTIME) ./policy/
	$(GO) test -run='^$$' -fuzz=FuzzValidUSCC -fuzztime=$(FUZZTIME) ./examples/greencredit/gen/
	$(GO) test -run='^$$' -fuzz=FuzzFastPath -fuzztime=$(FUZZTIME) ./connectors/csv/
	$(GO) test -run='^$$' -fuzz=FuzzCSVWriter -fuzztime=$(FUZZTIME) ./connectors/
	$(GO) test -run='^$$' -fuzz=FuzzParseURL -fuzztime=$(FUZZTIME) ./connectors/postgres/
	$(GO) test -run='^$$' -fuzz=FuzzReader -fuzzminimizetime=20x -fuzztime=$(FUZZTIME) ./connectors/parquet/

## check: formatting, vet, staticcheck, and a tidy go.mod
check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1)
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	$(GO) mod tidy && git diff --exit-code go.mod go.sum

clean:
	rm -rf bin
