package parquet_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/schema"
)

// TestBoundedCodecs checks that the codecs the package registers decode no
// more than their destination holds, and what fits as the library does.
func TestBoundedCodecs(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	for _, c := range []compress.Compression{compress.Codecs.Zstd, compress.Codecs.Gzip, compress.Codecs.Brotli, compress.Codecs.Snappy} {
		t.Run(c.String(), func(t *testing.T) {
			codec, err := compress.GetCodec(c)
			require.NoError(t, err)
			_, ok := codec.(compress.StreamingCodec)
			require.True(t, ok, "the codec streams")
			src := codec.Encode(nil, big)

			for _, dst := range [][]byte{nil, make([]byte, 0, 1<<20), make([]byte, 10), make([]byte, len(big)-1)} {
				_, err = compress.Decode(codec, dst, src)
				require.Error(t, err, "into %d bytes", len(dst))
			}
			out, err := compress.Decode(codec, make([]byte, len(big)), src)
			require.NoError(t, err)
			require.Equal(t, big, out)
			if c != compress.Codecs.Snappy {
				// The decoded length of snappy is in its header.
				_, err = compress.Decode(codec, make([]byte, len(big)+1), src)
				require.Error(t, err)
			}
			require.Panics(t, func() { codec.Decode(make([]byte, 1), src) })
		})
	}
}

// lyingCodec encodes every page as bomb.
type lyingCodec struct {
	compress.Codec
	bomb []byte
}

func (l lyingCodec) Encode(dst, src []byte) []byte { return append(dst[:0], l.bomb...) }
func (l lyingCodec) EncodeLevel(dst, src []byte, _ int) []byte {
	return append(dst[:0], l.bomb...)
}

// TestDecompressionBomb reads a file whose pages are each a zstd frame of
// some kilobytes that decodes to 1 GiB, under headers that declare a few
// bytes: it is refused without decoding it all.
func TestDecompressionBomb(t *testing.T) {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	require.NoError(t, err)
	zeros := make([]byte, 1<<20)
	for range 1 << 10 {
		_, err := zw.Write(zeros)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.Less(t, buf.Len(), 1<<20)

	s := &schema.Schema{Columns: []schema.Column{{Name: "n", Type: schema.Int, Min: i64(0), Max: i64(10)}}}
	orig, err := compress.GetCodec(compress.Codecs.Zstd)
	require.NoError(t, err)
	compress.RegisterCodec(compress.Codecs.Zstd, lyingCodec{orig, buf.Bytes()})
	data := write(t, s, parquet.WriteOptions{Compression: "zstd"}, batchOf(s, row{1}, row{2}))
	compress.RegisterCodec(compress.Codecs.Zstd, orig)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = readAll(data, s, parquet.Options{File: "bomb.parquet"})
	runtime.ReadMemStats(&after)
	require.EqualError(t, err, "bomb.parquet: row group 1, row 1 (row 1 of the file): column n: corrupt column chunk: parquet: could not decompress page: codec: zstd: decoded data exceeds destination size 16")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "bytes allocated")
}
