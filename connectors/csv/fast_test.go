package csv

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/schema"
)

// pieces is a reader of data that returns at most the next of sizes bytes
// a read (then any), and records the size of each buffer it is given.
type pieces struct {
	data  []byte
	sizes []int
	asked []int
}

func (p *pieces) Read(b []byte) (int, error) {
	p.asked = append(p.asked, len(b))
	if len(p.data) == 0 {
		return 0, io.EOF
	}
	n := len(b)
	if len(p.sizes) > 0 {
		n, p.sizes = min(n, p.sizes[0]), p.sizes[1:]
	}
	n = copy(b, p.data[:min(n, len(p.data))])
	p.data = p.data[n:]
	return n, nil
}

// TestReadPieces checks that the fast path asks the input for the same
// pieces as a bufio.Reader of window bytes, read a line at a time as the
// fast path once read it, so that the record limit stops the input at the
// same place: over lines short and long, quoted records and short reads.
func TestReadPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "a", Type: schema.String, MaxLen: 1 << 20},
		{Name: "b", Type: schema.Int, Min: new(int64), Max: new(int64)},
	}}
	for range 20 {
		var buf bytes.Buffer
		buf.WriteString("a,b\n")
		for buf.Len() < 600<<10 {
			switch rng.IntN(40) {
			case 0:
				buf.WriteString(strings.Repeat("x", rng.IntN(200<<10)) + ",0\n")
			case 1:
				buf.WriteString("\"a\nb\"\"\r\n" + strings.Repeat("y", rng.IntN(70<<10)) + "\",0\r\n")
			case 2:
				buf.WriteString("\n\r\n")
			default:
				buf.WriteString(strings.Repeat("z", rng.IntN(60)) + ",0\n")
			}
		}
		data := buf.Bytes()
		var sizes []int
		for range 200 {
			sizes = append(sizes, 1+rng.IntN(100<<10))
		}

		// The fast path, through Reader.
		got := &pieces{data: data, sizes: sizes}
		b, err := ReadAll(got, s, Options{BatchSize: 1 + rng.IntN(100)})
		require.NoError(t, err)
		require.Positive(t, b.Len)

		// A bufio.Reader behind the same skipBOM and limitReader.
		want := &pieces{data: data, sizes: sizes}
		br := bufio.NewReaderSize(newLimitReader(skipBOM(want), "f"), window)
		for {
			_, err := br.ReadSlice('\n')
			if err == io.EOF {
				break
			}
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				require.NoError(t, err)
			}
		}
		require.Equal(t, want.asked, got.asked)
	}
}

func TestFirstOf(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 20000 {
		p := make([]byte, rng.IntN(40))
		for i := range p {
			p[i] = []byte{'a', ',', '\n', 0, 0x80, 0xff, ',' + 1, '\n' - 1}[rng.IntN(8)]
		}
		want := -1
		for i, c := range p {
			if c == ',' || c == '\n' {
				want = i
				break
			}
		}
		require.Equal(t, want, firstOf(string(p), ',', '\n'), "%q", p)
	}
}

// TestAppendLineTakes checks that the common lines are converted by
// appendLine, not left to the slower way.
func TestAppendLineTakes(t *testing.T) {
	in := "s,n,b,d\n" + strings.Repeat("福建,-12,true,2020-02-29\nx,7,false,1970-01-01\r\n", 100)
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "s", Type: schema.String},
		{Name: "n", Type: schema.Int, Min: ptr(-100), Max: ptr(100)},
		{Name: "b", Type: schema.Bool},
		{Name: "d", Type: schema.Date, Min: ptr(0), Max: ptr(30000)},
	}}
	r, err := NewReader(strings.NewReader(in), s, Options{})
	require.NoError(t, err)
	b := schema.NewBatch(s, 0)
	for j := range r.plain {
		r.plain[j].vec = &b.Cols[r.plain[j].col]
	}
	f := r.fast
	f.check(f.pos)
	require.True(t, f.valid)
	for range 200 {
		n := r.appendLine(f.buf[f.pos:f.checked], f.valid)
		require.Positive(t, n)
		f.pos += n
		b.Len++
	}
	require.Equal(t, f.end, f.pos)
	require.Equal(t, []int64{-12, 7}, b.Cols[1].Ints[:2])
	require.Equal(t, []string{"福建", "x"}, b.Cols[0].Strs[198:])
}

func ptr(v int64) *int64 { return &v }
