package connectors

import (
	"errors"
	"io"
	"testing"

	"github.com/xjdata/cleanroom/schema"
)

var oneInt = &schema.Schema{Columns: []schema.Column{{Name: "x", Type: schema.Int}}}

// rows fills from a slice, then fails with end.
func rows(vals []int64, end error) FillFunc {
	return func(b *schema.Batch, upTo int) error {
		for b.Len < upTo {
			if len(vals) == 0 {
				return end
			}
			b.Cols[0].Ints = append(b.Cols[0].Ints, vals[0])
			b.Len++
			vals = vals[1:]
		}
		return nil
	}
}

func TestBatches(t *testing.T) {
	bs := NewBatches(rows([]int64{1, 2, 3, 4, 5}, io.EOF), oneInt, 2)
	var lens []int
	for {
		b, err := bs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lens = append(lens, b.Len)
	}
	if len(lens) != 3 || lens[0] != 2 || lens[2] != 1 {
		t.Fatalf("batch sizes %v, want [2 2 1]", lens)
	}
	if _, err := bs.Next(); err != io.EOF {
		t.Fatalf("after the end: %v", err)
	}

	bad := errors.New("row 3: bad")
	bs = NewBatches(rows([]int64{1, 2}, bad), oneInt, 5)
	if b, err := bs.Next(); b != nil || err != bad {
		t.Fatalf("a batch cut by an error: %v, %v; want nothing and the error", b, err)
	}
	if _, err := bs.Next(); err != bad {
		t.Fatalf("the error does not stick: %v", err)
	}

	all, err := ReadAll(rows([]int64{7, 8, 9}, io.EOF), oneInt, 1)
	if err != nil || all.Len != 3 {
		t.Fatalf("ReadAll: %v rows, %v", all, err)
	}
	if _, err := ReadAll(rows([]int64{7}, bad), oneInt, 1); err != bad {
		t.Fatalf("ReadAll error: %v", err)
	}
}
