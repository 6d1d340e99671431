package csv

import (
	"io"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/schema"
)

// ReadAllSlow is ReadAll with encoding/csv alone, the reference the fast
// path is compared with.
func ReadAllSlow(r io.Reader, s *schema.Schema, opts Options) (*schema.Batch, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	rd, err := newSchemaReader(r, s, opts, true)
	if err != nil {
		return nil, err
	}
	return connectors.ReadAll(connectors.FillFunc(rd.fill), s, max(rd.batch, 1))
}

// ReadAllRecords is ReadAll with the fast path's reader but every row
// converted from its split record, as fill does for a row appendLine does
// not take: the reference for appendLine where there is no other, as with
// NoQuotes.
func ReadAllRecords(r io.Reader, s *schema.Schema, opts Options) (*schema.Batch, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	rd, err := newSchemaReader(r, s, opts, false)
	if err != nil {
		return nil, err
	}
	rd.plain = nil
	return connectors.ReadAll(connectors.FillFunc(rd.fill), s, max(rd.batch, 1))
}
