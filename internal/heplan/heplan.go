// Package heplan derives, from the ledger's state and an allowed HE-mode
// decision, everything the encrypted release of that decision depends on:
// the compiled plan, its aggregates (which are over encrypted columns),
// the privacy parameters as applied, and the layout of its values. The
// node uses it to compute the release and each provider's agent uses it,
// on its own replay of the ledger, to check the node's request and to
// calibrate its own noise, so both derive the same thing from the same
// log.
package heplan

import (
	"errors"
	"fmt"

	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/release"
	"github.com/xjdata/cleanroom/schema"
	"github.com/xjdata/cleanroom/state"
)

// Plan is an HE-mode decision's release, derived.
type Plan struct {
	Plan    *query.Plan
	Aggs    []release.Agg
	Privacy release.Privacy
	// Datasets are the plan's datasets, by name.
	Datasets map[string]*policy.Dataset
	// Encrypted maps dataset → column → true for encrypted columns.
	Encrypted map[string]map[string]bool
	// Noise says who draws the noise.
	Noise policy.NoiseSource
}

// Derive compiles req's SQL against snap and derives its release under
// the decision's params, which must be those of an allowed HE-mode
// decision.
func Derive(snap *state.Snapshot, req *policy.Request, params *policy.Params) (*Plan, error) {
	if params == nil || params.Mode != policy.ModeHE {
		return nil, errors.New("heplan: not an HE-mode decision")
	}
	plan, err := query.Compile(req.SQL, query.CatalogFunc(func(name string) (*schema.Schema, bool) {
		d, ok := snap.Dataset(name)
		if !ok {
			return nil, false
		}
		return &d.Schema, true
	}))
	if err != nil {
		return nil, fmt.Errorf("heplan: %w", err)
	}
	p := &Plan{Plan: plan, Datasets: map[string]*policy.Dataset{}, Encrypted: map[string]map[string]bool{}, Noise: params.Noise}
	schemas := map[string]*schema.Schema{}
	rowsPerUnit := make([]int64, len(plan.Tables))
	for i, t := range plan.Tables {
		ds, ok := snap.Dataset(t.Name)
		if !ok {
			return nil, fmt.Errorf("heplan: dataset %s is not in the catalogue", t.Name)
		}
		data, ok := snap.HEData(t.Name)
		if !ok {
			return nil, fmt.Errorf("heplan: dataset %s has no HE-mode upload", t.Name)
		}
		p.Datasets[t.Name], schemas[t.Name] = ds, &ds.Schema
		enc := map[string]bool{}
		for c, tr := range data.Columns {
			if tr == policy.Encrypted {
				enc[c] = true
			}
		}
		p.Encrypted[t.Name] = enc
		rowsPerUnit[i] = ds.RowsPerUnit()
	}
	if p.Aggs, err = release.NewAggs(plan, schemas, p.Encrypted); err != nil {
		return nil, err
	}
	if p.Privacy, err = release.NewPrivacy(plan, params.Epsilon.Float64(), params.Delta, params.MinGroupSize, params.MaxGroupsPerUnit, rowsPerUnit); err != nil {
		return nil, err
	}
	return p, nil
}

// Ciphers returns how many ciphertexts a release of groups groups has:
// one per hidden value, then the clear vector when there is one.
func Ciphers(l release.Layout) int {
	n := l.Ciphers()
	if l.ClearLen() > 0 {
		n++
	}
	return n
}
