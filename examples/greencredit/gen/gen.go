package gen

import (
	"bufio"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/xjdata/cleanroom/schema"
)

// Defaults of Options.
const (
	DefaultEnterprises = 100_000
	DefaultSeed        = 1
	DefaultYear        = 2025
	// DefaultLoans is the mean number of loans per enterprise: 60% of
	// enterprises borrow, 1 to 5 times (2.05 on average).
	DefaultLoans = 1.23
	// MaxLoans is the largest mean Options.Loans accepts.
	MaxLoans = 100
)

// MaxEnterprises is the largest number of enterprises Write generates: the
// organisation codes are a permutation of the 10^8 eight-digit bodies, so
// that every enterprise has its own unified social credit code.
const MaxEnterprises = 100_000_000

// MaxLoansPerEnterprise is the most loans an enterprise has at the default
// mean (Options.Loans). The demo's commitment letter declares it as the
// contribution bound of the loans dataset.
const MaxLoansPerEnterprise = 5

// loanIDs is the number of loan identifiers: 10-digit loan numbers.
const loanIDs = 10_000_000_000

// The file names Write uses inside its directory.
const (
	RegistryFile    = "registry.csv"
	ElectricityFile = "electricity.csv"
	LoansFile       = "loans.csv"
)

// Options sizes and seeds the generated data. The zero value is valid and
// means all defaults.
type Options struct {
	// Enterprises is the number of enterprises in the registry. Defaults
	// to DefaultEnterprises; at most MaxEnterprises.
	Enterprises int
	// Seed selects the data. Defaults to DefaultSeed (so 0 and 1 give the
	// same data). The same Seed, Enterprises and Year give the same bytes.
	Seed uint64
	// Year is the year of the electricity months, Year-01 to Year-12.
	// Defaults to DefaultYear; between 1000 and 9999.
	Year int
	// Loans is the mean number of loans per enterprise. Defaults to
	// DefaultLoans; above 0 and at most MaxLoans, and Enterprises times
	// the most loans of an enterprise (Options.MaxLoansPerEnterprise) at
	// most 10^10, the number of loan identifiers. Another mean changes
	// only loans.csv (see the package doc).
	Loans float64
}

// loanScale is the factor by which o.Loans scales the number of loans of
// a borrower, 1 for the default mean.
func (o Options) loanScale() float64 {
	if o.Loans == 0 || o.Loans == DefaultLoans {
		return 1
	}
	return o.Loans / DefaultLoans
}

// MaxLoansPerEnterprise returns the most loans an enterprise has under o:
// the constant MaxLoansPerEnterprise at the default mean, and
// MaxLoansPerEnterprise times Loans/DefaultLoans, rounded up, otherwise.
// It is the contribution bound of the loans dataset for data generated
// with o.
func (o Options) MaxLoansPerEnterprise() int {
	s := o.loanScale()
	if s == 1 {
		return MaxLoansPerEnterprise
	}
	return int(math.Ceil(MaxLoansPerEnterprise * s))
}

// withDefaults returns o with its defaults filled in, or an error if a
// field is out of range.
func (o Options) withDefaults() (Options, error) {
	if o.Enterprises == 0 {
		o.Enterprises = DefaultEnterprises
	}
	if o.Enterprises < 0 || o.Enterprises > MaxEnterprises {
		return o, fmt.Errorf("gen: %d enterprises, want 1 to %d", o.Enterprises, MaxEnterprises)
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.Year == 0 {
		o.Year = DefaultYear
	}
	if o.Year < 1000 || o.Year > 9999 {
		return o, fmt.Errorf("gen: year %d, want a four-digit year", o.Year)
	}
	if o.Loans == 0 {
		o.Loans = DefaultLoans
	}
	if !(o.Loans > 0 && o.Loans <= MaxLoans) {
		return o, fmt.Errorf("gen: %v loans per enterprise, want a mean above 0 and at most %d", o.Loans, MaxLoans)
	}
	if m := o.MaxLoansPerEnterprise(); int64(o.Enterprises)*int64(m) > loanIDs {
		return o, fmt.Errorf("gen: %d enterprises of up to %d loans need more than the %d loan identifiers", o.Enterprises, m, int64(loanIDs))
	}
	return o, nil
}

// Files are the paths of the CSV files Write wrote.
type Files struct {
	Registry, Electricity, Loans string
}

// The bounds of the founded column: from the founding of the People's
// Republic to the end of 2026.
const (
	foundedMinText = "1949-10-01"
	foundedMaxText = "2026-12-31"
)

func bound(v int64) *int64 { return &v }

func date(text string) int64 {
	d, ok := schema.ParseDate(text)
	if !ok {
		panic("gen: bad date constant " + text)
	}
	return d
}

// Schemas returns the schemas of the three datasets of SCENARIO.md, keyed
// "registry", "electricity" and "loans", with the columns in the order of
// the CSV files. Each call returns fresh values the caller may change.
func Schemas() map[string]schema.Schema {
	str := func(name string, maxLen int) schema.Column {
		return schema.Column{Name: name, Type: schema.String, MaxLen: maxLen}
	}
	num := func(name string, min, max int64) schema.Column {
		return schema.Column{Name: name, Type: schema.Int, Min: bound(min), Max: bound(max)}
	}
	return map[string]schema.Schema{
		"registry": {Columns: []schema.Column{
			str("uscc", 18),
			str("name", 128),
			str("industry", 1),
			str("region", 12), // four CJK characters in UTF-8
			num("registered_capital", 0, 10_000_000_000),
			{Name: "founded", Type: schema.Date, Min: bound(date(foundedMinText)), Max: bound(date(foundedMaxText))},
		}},
		"electricity": {Columns: []schema.Column{
			str("uscc", 18),
			str("month", 7),
			num("kwh", 0, 100_000_000),
		}},
		"loans": {Columns: []schema.Column{
			str("loan_id", 11),
			str("uscc", 18),
			num("amount", 0, 1_000_000_000),
			num("rate_bp", 0, 2000),
			{Name: "green", Type: schema.Bool},
			str("borrower_name", 128),
		}},
	}
}

// header returns the CSV header line of a dataset: its column names.
func header(dataset string) []byte {
	s := Schemas()[dataset]
	var b []byte
	for i, c := range s.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c.Name...)
	}
	return append(b, '\n')
}

// Write generates the three datasets into dir, creating it if needed, as
// registry.csv, electricity.csv and loans.csv: a header line of column
// names, then one row per line, comma-separated, no field quoted (no value
// holds a comma, quote or line break). It overwrites existing files; on
// error it removes the files it was writing.
//
// Memory does not grow with Enterprises: rows are written as they are
// generated.
func Write(dir string, opts Options) (Files, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Files{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, fmt.Errorf("gen: %w", err)
	}
	files := Files{
		Registry:    filepath.Join(dir, RegistryFile),
		Electricity: filepath.Join(dir, ElectricityFile),
		Loans:       filepath.Join(dir, LoansFile),
	}
	paths := []string{files.Registry, files.Electricity, files.Loans}
	if err := write(paths, opts); err != nil {
		for _, p := range paths {
			os.Remove(p)
		}
		return Files{}, err
	}
	return files, nil
}

// write generates into the files at paths (registry, electricity, loans).
func write(paths []string, opts Options) (err error) {
	var ws [3]*bufio.Writer
	for i, p := range paths {
		f, err := os.Create(p)
		if err != nil {
			return fmt.Errorf("gen: %w", err)
		}
		defer func() {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("gen: %w", cerr)
			}
		}()
		ws[i] = bufio.NewWriterSize(f, 1<<20)
	}
	for i, name := range []string{"registry", "electricity", "loans"} {
		if _, err := ws[i].Write(header(name)); err != nil {
			return fmt.Errorf("gen: %w", err)
		}
	}
	g := newGenerator(opts)
	err = g.run(func(c *chunk) error {
		for i, w := range ws {
			if _, err := w.Write(c.buf[i]); err != nil {
				return fmt.Errorf("gen: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, w := range ws {
		if err := w.Flush(); err != nil {
			return fmt.Errorf("gen: %w", err)
		}
	}
	return nil
}

// rng draws the random numbers of one enterprise from a PCG stream. It
// derives uniform and normal variates itself rather than through
// rand.Rand, so that the data depend only on the PCG algorithm, which
// math/rand/v2 specifies.
type rng struct {
	pcg   rand.PCG
	spare float64
	has   bool
}

// seed restarts r on the stream of enterprise i under seed.
func (r *rng) seed(seed uint64, i int) {
	r.pcg.Seed(mix64(seed), mix64(uint64(i)^mix64(seed+0x9e3779b97f4a7c15)))
	r.has = false
}

// mix64 is the finaliser of SplitMix64, a bijection that spreads nearby
// inputs apart.
func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float returns a uniform value in [0, 1).
func (r *rng) float() float64 { return float64(r.pcg.Uint64()>>11) * 0x1p-53 }

// intn returns a value in [0, n), n > 0 (multiply-shift; the bias is below
// n/2^64).
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.pcg.Uint64(), uint64(n))
	return int(hi)
}

// norm returns a standard normal value (Box–Muller, both values used).
func (r *rng) norm() float64 {
	if r.has {
		r.has = false
		return r.spare
	}
	u := 1 - r.float() // (0, 1]
	v := r.float()
	m := math.Sqrt(-2 * math.Log(u))
	s, c := math.Sincos(2 * math.Pi * v)
	r.spare, r.has = m*s, true
	return m * c
}

// pick returns an index drawn with the weights of cum, the running sums
// of the weights.
func (r *rng) pick(cum []int) int {
	x := r.intn(cum[len(cum)-1])
	for i, c := range cum {
		if x < c {
			return i
		}
	}
	return len(cum) - 1
}

func cumulative(ws []int) []int {
	cum := make([]int, len(ws))
	s := 0
	for i, w := range ws {
		s += w
		cum[i] = s
	}
	return cum
}

// The identifier spaces. Identifiers are enterprise or loan indices passed
// through permute, so that they are unique without looking sequential.
const (
	orgHalf   = 10_000  // 8-digit organisation-code bodies: 10^4 × 10^4
	tradeHalf = 512     // three trade-name characters of 64: 2^9 × 2^9
	loanHalf  = 100_000 // 10-digit loan numbers: 10^5 × 10^5
)

// permute maps x in [0, half²) to a value in [0, half²), one to one: a
// four-round Feistel network on the two base-half digits of x, with
// addition modulo half and round functions keyed by key.
func permute(x, half, key uint64) uint64 {
	l, r := x/half, x%half
	for round := range uint64(4) {
		l, r = r, (l+mix64(r^key^round<<56)%half)%half
	}
	return l*half + r
}

// The founding dates: from 1990-01-01 to 2025-12-31, registrations
// growing by foundGrowth a year, so that about half the enterprises are
// younger than eight years.
const foundGrowth = 0.08

var (
	foundStart = date("1990-01-01")
	foundEnd   = date("2025-12-31")
	// usccStart is when the unified codes were introduced; enterprises
	// registered since were given organisation codes beginning "MA".
	usccStart = date("2015-10-01")
)

// The medians and spreads of the log-normal values.
const (
	capMedian   = 2_000_000 // registered capital, yuan, times the industry's loan factor
	capSigma    = 1.5
	kwhSigma    = 1.3
	kwhMonthSig = 0.08
	loanMedian  = 2_200_000 // loan amount, yuan, times the industry's loan factor
	loanSigma   = 1.1
	loanShare   = 0.6 // enterprises with loans
)

// generator holds what every enterprise shares.
type generator struct {
	opts       Options
	months     [12][]byte
	monthStart [13]int64 // days since 1970-01-01; [12] is next January 1
	orgKey     uint64
	tradeKey   uint64
	loanKey    uint64
	indCum     []int
	regCum     []int
	loanCum    []int
	loanScale  float64 // 1 at the default mean
	maxLoans   int     // the most loans of an enterprise
	industries []industry
	regions    []region
}

func newGenerator(opts Options) *generator {
	g := &generator{opts: opts, industries: industries, regions: regions}
	for m := range 12 {
		g.months[m] = fmt.Appendf(nil, "%04d-%02d", opts.Year, m+1)
	}
	for m := range 13 {
		g.monthStart[m] = time.Date(opts.Year, time.Month(m+1), 1, 0, 0, 0, 0, time.UTC).Unix() / 86400
	}
	g.orgKey = mix64(opts.Seed ^ 0x6f7267)
	g.tradeKey = mix64(opts.Seed ^ 0x7472616465)
	g.loanKey = mix64(opts.Seed ^ 0x6c6f616e)
	iw := make([]int, len(industries))
	for i, ind := range industries {
		iw[i] = ind.weight
	}
	g.indCum = cumulative(iw)
	rw := make([]int, len(regions))
	for i, reg := range regions {
		rw[i] = reg.weight
	}
	g.regCum = cumulative(rw)
	g.loanCum = cumulative(loanCounts[:])
	g.loanScale = opts.loanScale()
	g.maxLoans = opts.MaxLoansPerEnterprise()
	return g
}

// chunkSize is the number of enterprises generated as one unit of work.
// It does not affect the output.
const chunkSize = 4096

// A chunk holds the rows of enterprises [start, start+chunkSize) of the
// three files.
type chunk struct {
	start int
	buf   [3][]byte
}

// run generates all enterprises in chunks, in parallel, and hands the
// chunks to consume in order.
func (g *generator) run(consume func(*chunk) error) error {
	n := g.opts.Enterprises
	nchunks := (n + chunkSize - 1) / chunkSize
	workers := min(runtime.GOMAXPROCS(0), nchunks)
	// Each chunk index is sent to one worker; results come back through a
	// per-chunk channel so that the consumer sees them in order. At most
	// inflight chunks are in memory at once.
	inflight := 2 * workers
	jobs := make(chan int)
	results := make([]chan *chunk, nchunks)
	for i := range results {
		results[i] = make(chan *chunk, 1)
	}
	free := make(chan *chunk, inflight)
	for range inflight {
		free <- &chunk{}
	}
	done := make(chan struct{})
	defer close(done)
	for range workers {
		go func() {
			var r rng
			for {
				// Take a buffer before a job, so that the job the consumer
				// waits for is always held by a worker that can finish it.
				var c *chunk
				select {
				case c = <-free:
				case <-done:
					return
				}
				ci, ok := <-jobs
				if !ok {
					return
				}
				c.start = ci * chunkSize
				for k := range c.buf {
					c.buf[k] = c.buf[k][:0]
				}
				for i := c.start; i < min(c.start+chunkSize, n); i++ {
					g.enterprise(i, &r, c)
				}
				results[ci] <- c
			}
		}()
	}
	go func() {
		defer close(jobs)
		for ci := range nchunks {
			select {
			case jobs <- ci:
			case <-done:
				return
			}
		}
	}()
	for ci := range nchunks {
		c := <-results[ci]
		if err := consume(c); err != nil {
			return err
		}
		free <- c
	}
	return nil
}

// enterprise appends the rows of enterprise i to c.
func (g *generator) enterprise(i int, r *rng, c *chunk) {
	r.seed(g.opts.Seed, i)
	ind := &g.industries[r.pick(g.indCum)]
	reg := &g.regions[r.pick(g.regCum)]

	// Founded: exponential growth of registrations over the span.
	span := float64(foundEnd - foundStart + 1)
	k := foundGrowth / 365.25
	founded := foundStart + int64(math.Log1p(r.float()*math.Expm1(k*span))/k)
	founded = min(max(founded, foundStart), foundEnd)

	capital := capMedian * ind.loan * math.Exp(capSigma*r.norm())
	capital = math.Round(capital/10_000) * 10_000
	capital = min(max(capital, 10_000), 10_000_000_000)

	// The uscc: market regulation (9); enterprise (1) or, for a third of
	// agriculture, farmers' cooperative (3).
	cat := byte('1')
	suffix := suffixCompany
	if ind.letter == "A" && r.float() < 0.3 {
		cat, suffix = '3', suffixCooperative
	} else if u := r.float(); u < 0.2 {
		suffix = suffixCompanyLtd
	} else if u < 0.3 {
		suffix = suffixCompanyJSC
	}
	var body [8]byte
	p := permute(uint64(i), orgHalf, g.orgKey)
	if founded >= usccStart {
		body[0], body[1] = 'M', 'A'
		for j := 7; j >= 2; j-- {
			body[j] = usccAlphabet[p%31]
			p /= 31
		}
	} else {
		for j := 7; j >= 0; j-- {
			body[j] = byte('0' + p%10)
			p /= 10
		}
	}
	var usccBuf [18]byte
	uscc := appendUSCC(usccBuf[:0], '9', cat, reg.code, &body)

	var nameBuf [128]byte
	name := append(nameBuf[:0], reg.name...)
	t := permute(uint64(i)%(tradeHalf*tradeHalf), tradeHalf, g.tradeKey)
	name = append(name, tradeChars[t%64]...)
	name = append(name, tradeChars[t/64%64]...)
	name = append(name, tradeChars[t/4096]...)
	name = append(name, ind.words[r.intn(len(ind.words))]...)
	name = append(name, suffix...)

	b := c.buf[0]
	b = append(b, uscc...)
	b = append(b, ',')
	b = append(b, name...)
	b = append(b, ',')
	b = append(b, ind.letter...)
	b = append(b, ',')
	b = append(b, reg.name...)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(capital), 10)
	b = append(b, ',')
	b = time.Unix(founded*86400, 0).UTC().AppendFormat(b, schema.DateLayout)
	b = append(b, '\n')
	c.buf[0] = b

	// Electricity: a log-normal level for the enterprise, scaled by its
	// industry and mildly by its capital, a yearly cycle, a little monthly
	// noise, and nothing before it was founded.
	level := ind.kwh * kwhScale * math.Exp(kwhSigma*r.norm()) * math.Pow(capital/(capMedian*ind.loan), 0.15)
	b = c.buf[1]
	for m := range 12 {
		season := 1 + ind.winter*math.Cos(2*math.Pi*float64(m)/12) + 0.05*math.Cos(4*math.Pi*float64(m)/12)
		v := level * season * math.Exp(kwhMonthSig*r.norm())
		start, end := g.monthStart[m], g.monthStart[m+1]
		if founded >= end {
			v = 0
		} else if founded > start {
			v *= float64(end-founded) / float64(end-start)
		}
		kwh := min(max(int64(math.Round(v)), 0), 100_000_000)
		b = append(b, uscc...)
		b = append(b, ',')
		b = append(b, g.months[m]...)
		b = append(b, ',')
		b = strconv.AppendInt(b, kwh, 10)
		b = append(b, '\n')
	}
	c.buf[1] = b

	// Loans: 60% of enterprises borrow, 1 to 5 times; at another mean,
	// that number times the scale, rounded at random to a neighbouring
	// integer so that the mean is exact.
	if r.float() >= loanShare {
		return
	}
	nloans := r.pick(g.loanCum) + 1
	if g.loanScale != 1 {
		nloans = min(int(float64(nloans)*g.loanScale+r.float()), g.maxLoans)
	}
	b = c.buf[2]
	for j := range nloans {
		green := r.float() < ind.green
		amount := loanMedian * ind.loan * math.Pow(capital/(capMedian*ind.loan), 0.3) * math.Exp(loanSigma*r.norm())
		amount = math.Round(amount/1000) * 1000
		amount = min(max(amount, 10_000), 1_000_000_000)
		spread := 200.0
		if green {
			spread = 170
		}
		rate := min(max(int64(math.Round(300+spread*math.Exp(0.6*r.norm()))), 300), 1500)
		id := permute(uint64(i*g.maxLoans+j), loanHalf, g.loanKey)

		b = append(b, 'L')
		var digits [10]byte
		for d := 9; d >= 0; d-- {
			digits[d] = byte('0' + id%10)
			id /= 10
		}
		b = append(b, digits[:]...)
		b = append(b, ',')
		b = append(b, uscc...)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(amount), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, rate, 10)
		b = append(b, ',')
		b = strconv.AppendBool(b, green)
		b = append(b, ',')
		b = append(b, name...)
		b = append(b, '\n')
	}
	c.buf[2] = b
}
