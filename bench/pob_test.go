package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // textio reads local files
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	"github.com/google/differential-privacy/privacy-on-beam/v3/pbeam"
)

// The Privacy on Beam pipeline: the natural way to write the query there.
// textio reads both CSV files; a CoGroupByKey on uscc joins each loan to
// its enterprise's group; MakePrivate takes uscc as the privacy unit; and
// MeanPerKey bounds each unit's contributions (one group, at most
// Data.MaxLoans loans in it, amounts clamped to the declared bounds),
// selects groups privately and adds the noise. ε is split as the sealed
// engine splits it for one aggregate: half to the mean, half (with all of
// δ) to group selection.

// loanRow is a joined loan: its enterprise's group and its amount.
type loanRow struct {
	Group  string // industry + "," + region
	Amount float64
}

func init() {
	register.Function2x0(parseLoanFn)
	register.Function2x0(parseRegistryFn)
	register.Function4x0(joinFn)
	register.Function1x2(groupAmountFn)
	register.Function2x0(collectFn)
	register.Emitter2[string, float64]()
	register.Emitter2[string, string]()
	register.Emitter2[string, loanRow]()
	register.Iter1[float64]()
	register.Iter1[string]()
	log.SetLogger(quietLogger{})
}

// quietLogger keeps Beam's warnings and errors and drops the rest (the
// direct runner prints the whole plan of every run).
type quietLogger struct{}

func (quietLogger) Log(_ context.Context, sev log.Severity, _ int, msg string) {
	if sev >= log.SevWarn {
		fmt.Fprintln(os.Stderr, "beam:", msg)
	}
}

// parseLoanFn emits uscc and amount of a loans.csv line (loan_id, uscc,
// amount, …), skipping the header.
func parseLoanFn(line string, emit func(string, float64)) {
	f := strings.SplitN(line, ",", 4)
	if len(f) < 4 || f[0] == "loan_id" {
		return
	}
	amount, err := strconv.ParseFloat(f[2], 64)
	if err != nil {
		panic("loans.csv: amount " + f[2])
	}
	emit(f[1], amount)
}

// parseRegistryFn emits uscc and the group of a registry.csv line (uscc,
// name, industry, region, …), skipping the header.
func parseRegistryFn(line string, emit func(string, string)) {
	f := strings.SplitN(line, ",", 5)
	if len(f) < 5 || f[0] == "uscc" {
		return
	}
	emit(f[0], f[2]+","+f[3])
}

// joinFn is the inner join: every loan of an enterprise with a registry
// row, with that row's group.
func joinFn(uscc string, amounts func(*float64) bool, groups func(*string) bool, emit func(string, loanRow)) {
	var g string
	if !groups(&g) {
		return
	}
	var a float64
	for amounts(&a) {
		emit(uscc, loanRow{Group: g, Amount: a})
	}
}

func groupAmountFn(r loanRow) (string, float64) { return r.Group, r.Amount }

var (
	sinkMu sync.Mutex
	sink   answer
)

// collectFn gathers the released means (the direct runner runs in this
// process).
func collectFn(g string, mean float64) {
	industry, region, _ := strings.Cut(g, ",")
	sinkMu.Lock()
	sink[group{industry, region}] = mean
	sinkMu.Unlock()
}

// runBeam builds and runs the pipeline on Beam's direct runner.
func runBeam(ctx context.Context, d *Data) (answer, error) {
	p, s := beam.NewPipelineWithRoot()
	loans := beam.ParDo(s, parseLoanFn, textio.Read(s, d.Files.Loans))
	registry := beam.ParDo(s, parseRegistryFn, textio.Read(s, d.Files.Registry))
	joined := beam.ParDo(s, joinFn, beam.CoGroupByKey(s, loans, registry))
	spec, err := pbeam.NewPrivacySpec(pbeam.PrivacySpecParams{
		AggregationEpsilon:        epsilon / 2,
		PartitionSelectionEpsilon: epsilon / 2,
		PartitionSelectionDelta:   delta,
	})
	if err != nil {
		return nil, err
	}
	private := pbeam.ParDo(s, groupAmountFn, pbeam.MakePrivate(s, joined, spec))
	means := pbeam.MeanPerKey(s, private, pbeam.MeanParams{
		MaxPartitionsContributed:     1,
		MaxContributionsPerPartition: int64(d.MaxLoans),
		MinValue:                     float64(amountMin),
		MaxValue:                     float64(amountMax),
	})
	beam.ParDo0(s, collectFn, means)

	sinkMu.Lock()
	sink = answer{}
	sinkMu.Unlock()
	if _, err := direct.Execute(ctx, p); err != nil {
		return nil, err
	}
	sinkMu.Lock()
	defer sinkMu.Unlock()
	return sink, nil
}

var beamInit sync.Once

// BenchmarkPrivacyOnBeam is the DP query in Privacy on Beam on Beam's
// direct (local, in-process) runner. Each run reads the CSV files: a Beam
// pipeline has no tables that stay loaded between runs.
func BenchmarkPrivacyOnBeam(b *testing.B) {
	d := workload(b)
	beamInit.Do(beam.Init)
	base := startPeak(b)
	var a answer
	var err error
	for b.Loop() {
		if a, err = runBeam(b.Context(), d); err != nil {
			b.Fatal(err)
		}
	}
	reportPeak(b, base)
	check(b, "PrivacyOnBeam", a, true)
}
