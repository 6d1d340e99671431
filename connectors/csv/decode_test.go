package csv

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// FuzzDecode checks the strict decoder against golang.org/x/text's: read
// in pieces of any size, it returns what x/text decodes, or, where x/text
// writes U+FFFD for bytes that are not a GB18030 (or GBK) character, or
// reads a four-byte form with a bad second byte, what x/text decodes of the
// bytes before them and then a *decodeError.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"a,b\n\x81\x40,\xa1\xa1\n",
		"\x84\x31\xa4\x37",         // U+FFFD, written as such
		"\x84\x31\xa5\x30",         // just past U+FFFF
		"\x95\x34\xb2\x35\x80",     // 𠮷 €
		"x\x81\n\xff,\xaa\xa1\x81", // bad bytes
		"\xef\xbb\xbfa,b\n",        // UTF-8
		"\x84\x31\x95\x33a,b\n",    // a GB18030 byte order mark
		"ab\x84\x31\xa5\x30,x",     // four bytes that are no character
		"ab\x84\x31",               // the start of four at the end
		"\xc7<\xad0\x97 ",          // x/text reads c7 3c ad 30 as a character
		"\x81\x3a\x81\x30",         // ... and 81 3a 81 30 as 82 30 81 30
	} {
		f.Add([]byte(s), true, uint8(3))
		f.Add([]byte(s), true, uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, gb18030 bool, chunk uint8) {
		d := &decoding{name: "GBK"}
		want, _ := simplifiedchinese.GBK.NewDecoder().Bytes(data)
		if gb18030 {
			d = &decoding{name: "GB18030", gb18030: true}
			want, _ = simplifiedchinese.GB18030.NewDecoder().Bytes(data)
		}
		r := d.reader(&chunkReader{data: data, n: int(chunk%16) + 1})
		got, err := io.ReadAll(iotest.OneByteReader(r))
		if err == nil {
			require.Equal(t, want, got)
			require.False(t, bytes.HasPrefix(data, bom))
			// No U+FFFD but those written as such.
			if gb18030 {
				require.LessOrEqual(t, bytes.Count(got, replacement), bytes.Count(data, gbReplacement))
			} else {
				require.Zero(t, bytes.Count(got, replacement))
			}
			return
		}
		var de *decodeError
		require.True(t, errors.As(err, &de), "%v", err)
		require.ErrorIs(t, err, ErrEncoding)
		require.True(t, bytes.HasPrefix(want, got), "a prefix of what x/text decodes")
		if len(de.seq) == 0 {
			require.True(t, bytes.HasPrefix(data, bom))
			require.Empty(t, got)
			return
		}
		// The bytes before the error decode to got, with no U+FFFD but
		// those written as such; x/text decodes the bytes at the error to
		// U+FFFD.
		require.True(t, bytes.HasPrefix(data[de.off:], de.seq))
		require.LessOrEqual(t, len(de.seq), 4)
		if de.unmapped {
			require.Len(t, de.seq, 2)
			one, _ := simplifiedchinese.GB18030.NewDecoder().Bytes(de.seq)
			require.Equal(t, replacement, one, "%x", de.seq)
		}
		prefix := simplifiedchinese.GBK.NewDecoder()
		if gb18030 {
			prefix = simplifiedchinese.GB18030.NewDecoder()
		}
		before, _ := prefix.Bytes(data[:de.off])
		require.Equal(t, before, got)
		// x/text decodes it to U+FFFD, or takes a lead byte and one from
		// 0x3a to 0x3f for the start of a four-byte character.
		lenient := gb18030 && len(de.seq) == 1 && len(data) > int(de.off)+1 && 0x3a <= data[de.off+1] && data[de.off+1] <= 0x3f
		require.True(t, lenient || bytes.HasPrefix(want[len(got):], replacement), "x/text decodes %x to %q", de.seq, want[len(got):])
		if gb18030 {
			require.LessOrEqual(t, bytes.Count(got, replacement), bytes.Count(data[:de.off], gbReplacement))
		} else {
			require.Zero(t, bytes.Count(got, replacement))
		}
		require.True(t, utf8.Valid(got))
	})
}

// chunkReader returns data in reads of at most n bytes.
type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.data)
	c.data = c.data[k:]
	return k, nil
}

// gbReplacement is U+FFFD in GB18030, a character like any other.
var gbReplacement = []byte{0x84, 0x31, 0xa4, 0x37}
