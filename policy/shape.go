package policy

import (
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// CodeShape refuses a query whose aggregates cannot be computed exactly:
// an argument that could overflow 64-bit integers, or an aggregate that
// the execution mode does not compute.
const CodeShape = "aggregate-not-computable"

// checkShape refuses, before the decision is logged, what execution in
// mode could not compute: an aggregate's argument whose value could
// overflow with the declared bounds of its columns, and in multiparty HE
// mode every aggregate but COUNT, SUM and AVG of a plain column (the node
// computes on ciphertexts only sums weighted by what it can see).
func checkShape(s Snapshot, p *query.Plan, mode Mode, deny denyFunc) {
	bounds := func(c query.Column) (int64, int64, bool) {
		ds, ok := s.Dataset(c.Table)
		if !ok {
			return 0, 0, false
		}
		i := ds.Schema.Index(c.Name)
		if i < 0 {
			return 0, 0, false
		}
		return ColumnBounds(ds.Schema.Columns[i])
	}
	for _, o := range p.Outputs {
		if o.Func == "" {
			continue
		}
		if mode == ModeHE {
			switch {
			case o.Func != query.Count && o.Func != query.Sum && o.Func != query.Avg:
				deny(CodeShape, "Art. 19", "%s is not computed in multiparty HE mode, which releases COUNT, SUM and AVG of plain columns; ask in sealed mode", o.Name)
				continue
			case o.Arg != nil:
				deny(CodeShape, "Art. 19", "%s aggregates an expression, which multiparty HE mode does not compute (it sums plain columns); ask in sealed mode", o.Name)
				continue
			}
		}
		if o.Arg == nil {
			continue
		}
		if _, _, err := o.Arg.Bounds(bounds); err != nil {
			deny(CodeShape, "Art. 36", "%s cannot be computed exactly: %v", o.Name, err)
		}
	}
}

// ColumnBounds returns the declared bounds of a column that aggregates
// read: its Min and Max for int and date columns, 0 and 1 for bool; ok is
// false for other columns.
func ColumnBounds(c schema.Column) (lo, hi int64, ok bool) {
	switch c.Type {
	case schema.Bool:
		return 0, 1, true
	case schema.Int, schema.Date:
		if c.Min == nil || c.Max == nil {
			return 0, 0, false
		}
		return *c.Min, *c.Max, true
	}
	return 0, 0, false
}
