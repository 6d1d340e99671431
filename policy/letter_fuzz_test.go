package policy

import (
	"bytes"
	"testing"
	"time"

	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
)

// FuzzParseLetter checks that ParseLetter never panics, that what it
// accepts is exactly what MarshalText writes for the letter it returns,
// and that its strict parser alone never accepts a non-canonical form. The
// corpus is in testdata/fuzz/FuzzParseLetter; the golden letters and the
// error vectors are added to it.
func FuzzParseLetter(f *testing.F) {
	for name := range goldenLetters {
		f.Add(readGolden(f, name))
	}
	for _, v := range loadLetterErrors(f) {
		f.Add(v.body(f))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkStrict(t, b)
	})
}

// FuzzMarshalLetter builds letters from fuzzed parts and checks that
// whatever MarshalText writes, ParseLetter reads back to the same text.
func FuzzMarshalLetter(f *testing.F) {
	f.Add("L-7", "bank", "GC-2025-01", "绿色信贷风险评估 (green-credit risk assessment)", "绿色信贷定价", "期满删除", "bank",
		int64(1795719600), int64(0), int64(7776000), int64(10), int64(2), "registry", int64(3_000_000), 1e-6, "uscc", "join-key", uint8(0b110))
	f.Add("x", "a", "S", " t", "a\nb", "\u3000", "x y", int64(0), int64(1), int64(1), int64(0), int64(-1), "R", int64(0), 0.5, "A", "", uint8(0))
	f.Fuzz(func(t *testing.T, id, applicant, scID, scText, purpose, safeguard, recipient string,
		nb, nbNanos, length, minGroup, maxGroups int64, dataset string, eps int64, delta float64, column, use string, funcs uint8) {
		l := &Letter{
			ID:               id,
			Applicant:        applicant,
			Scenario:         Scenario{ID: scID, Text: scText},
			Purposes:         []string{purpose},
			Safeguards:       []string{safeguard},
			NotBefore:        time.Unix(nb, nbNanos),
			NotAfter:         time.Unix(nb, nbNanos).Add(time.Duration(length) * time.Second),
			MinGroupSize:     minGroup,
			MaxGroupsPerUnit: maxGroups,
			Datasets: []LetterDataset{{Name: dataset, Epsilon: dp.Epsilon(eps), Delta: delta,
				Columns: []ColumnRule{{Column: column, Uses: []Use{Use(use)}}}}},
			Prohibitions: Prohibitions,
		}
		if recipient != "" {
			l.Recipients = []string{recipient}
		}
		if funcs&7 != 0 {
			r := &l.Datasets[0].Columns[0]
			r.Uses = append(r.Uses, query.UseAggregate)
			for i, fn := range []query.Func{query.Avg, query.Count, query.Sum} {
				if funcs&(1<<i) != 0 {
					r.Funcs = append(r.Funcs, fn)
				}
			}
		}
		b, err := l.MarshalText()
		if err != nil {
			if _, ok := err.(*LetterError); !ok {
				t.Fatalf("MarshalText: %v (%T) is not a *LetterError", err, err)
			}
			return
		}
		got, err := ParseLetter(b)
		if err != nil {
			t.Fatalf("ParseLetter(MarshalText(%+v)): %v\n%s", l, err, b)
		}
		again, err := got.MarshalText()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %q gave %q, %v", b, again, err)
		}
		if !got.NotBefore.Equal(l.NotBefore) || !got.NotAfter.Equal(l.NotAfter) {
			t.Fatalf("times changed: %v %v, want %v %v", got.NotBefore, got.NotAfter, l.NotBefore, l.NotAfter)
		}
	})
}
