package parquet

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// The Parquet library decompresses a page into a buffer of the size its
// header declares, but its zstd and snappy decoders decode the whole of
// what they are given whatever that size, and its gzip and brotli ones too
// when the size is 0: a page of a few kilobytes of zstd can claim to hold
// a few bytes and decode to gigabytes. The codecs registered here replace
// the library's decoding of those four codecs with one that stops at the
// declared size, and leave its encoding as it is. Registering is global:
// it applies to every use of the library in the program. Nothing the
// library reads is lost (a page that decodes to more or less than its
// header says is an error for the library too, once decoded), but for a
// zstd frame whose window is over MaxPageSize, which writers do not make.
func init() {
	for c, decode := range map[compress.Compression]func(dst, src []byte) ([]byte, error){
		compress.Codecs.Zstd:   decodeZstd,
		compress.Codecs.Gzip:   decodeGzip,
		compress.Codecs.Brotli: decodeBrotli,
		compress.Codecs.Snappy: decodeSnappy,
	} {
		orig, err := compress.GetCodec(c)
		if err != nil {
			continue // not built in: nothing to bound
		}
		b := boundedCodec{Codec: orig, decode: decode}
		if s, ok := orig.(compress.StreamingCodec); ok {
			compress.RegisterCodec(c, streamingBoundedCodec{b, s})
		} else {
			compress.RegisterCodec(c, b)
		}
	}
}

// boundedCodec is a codec of the Parquet library whose block decoding
// writes no more than the length of its destination.
type boundedCodec struct {
	compress.Codec
	decode func(dst, src []byte) ([]byte, error)
}

func (c boundedCodec) Decode(dst, src []byte) []byte {
	out, err := c.decode(dst, src)
	if err != nil {
		panic(err) // as the library's codecs do
	}
	return out
}

func (c boundedCodec) DecodeWithError(dst, src []byte) ([]byte, error) {
	return c.decode(dst, src)
}

// streamingBoundedCodec is a boundedCodec that keeps the streaming
// interface of the library's codec, unbounded: a stream is read as far as
// its reader reads it.
type streamingBoundedCodec struct {
	boundedCodec
	compress.StreamingCodec
}

func tooLarge(codec string, dst []byte) error {
	return fmt.Errorf("codec: %s: decoded data exceeds destination size %d", codec, len(dst))
}

// readAllTo reads all of r into dst, and fails if r holds more or less.
func readAllTo(codec string, r io.Reader, dst []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, dst); err != nil {
		return nil, err
	}
	var extra [1]byte
	if n, err := r.Read(extra[:]); n != 0 || err != io.EOF {
		if err != nil && err != io.EOF {
			return nil, err
		}
		return nil, tooLarge(codec, dst)
	}
	return dst, nil
}

func decodeGzip(dst, src []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readAllTo("gzip", r, dst)
}

func decodeBrotli(dst, src []byte) ([]byte, error) {
	return readAllTo("brotli", brotli.NewReader(bytes.NewReader(src)), dst)
}

func decodeSnappy(dst, src []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return nil, err
	}
	if n > len(dst) {
		return nil, tooLarge("snappy", dst)
	}
	return snappy.Decode(dst, src)
}

// zstdDecoders holds zstd stream decoders, which decode no more than
// their reader reads, with a window (which they allocate at the start of a
// frame) of at most MaxPageSize: a frame of a larger window is refused.
var zstdDecoders sync.Pool

func decodeZstd(dst, src []byte) ([]byte, error) {
	d, _ := zstdDecoders.Get().(*zstd.Decoder)
	if d == nil {
		var err error
		d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(MaxPageSize))
		if err != nil {
			return nil, err
		}
	}
	defer zstdDecoders.Put(d)
	if err := d.Reset(bytes.NewReader(src)); err != nil {
		return nil, err
	}
	out, err := readAllTo("zstd", d, dst)
	_ = d.Reset(nil)
	return out, err
}
