package csv

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzLimit checks the record limit with a small maximum: reading in chunks
// of any size, with the fast path, must end in the same state, or the same
// error, as reading one byte at a time line by line.
func FuzzLimit(f *testing.F) {
	for _, s := range []string{
		"a,b\nc,d\n",
		"a,\"b\nc\",d\ne\n",
		"abcdefgh\r\nabcdefgh\r\n\r\n",
		"\"\"\"\n\"\"\n\n\r\r\n\"x\n",
		"a\"b\nccccccccccccccccccc\n",
		"\"aaaa\naaaa\naaaa\naaaa\naaaa\n",
	} {
		f.Add([]byte(s), uint8(8), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, max, chunk uint8) {
		newL := func() *limitReader {
			l := newLimitReader(nil, "f.csv")
			l.max = int(max%32) + 1
			return l
		}
		want, wantOK := newL(), true
		for i := range data {
			if wantOK = want.scanLines(data[i : i+1]); !wantOK {
				break
			}
		}
		got, ok := newL(), true
		for p := data; len(p) > 0 && ok; {
			n := min(len(p), int(chunk)+1)
			ok = got.scan(p[:n])
			p = p[n:]
		}
		require.Equal(t, wantOK, ok)
		if !ok {
			require.Equal(t, want.err, got.err)
			return
		}
		require.Equal(t, want, got)
	})
}
