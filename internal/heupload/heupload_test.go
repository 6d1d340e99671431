package heupload

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"

	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/fingerprint"
	"github.com/xjdata/cleanroom/protocols/mhe"
	"github.com/xjdata/cleanroom/schema"
)

func i64(v int64) *int64 { return &v }

var testSchema = &schema.Schema{Columns: []schema.Column{
	{Name: "uscc", Type: schema.String},
	{Name: "month", Type: schema.String, MaxLen: 7},
	{Name: "kwh", Type: schema.Int, Min: i64(-5), Max: i64(1000)},
	{Name: "green", Type: schema.Bool},
	{Name: "secret", Type: schema.String},
}}

// sample returns a container of n rows and what it holds.
func sample(t testing.TB, params bgv.Parameters, n int) ([]byte, *schema.Batch) {
	_, pk, err := mhe.GenerateResultKey(params)
	require.NoError(t, err)
	enc, err := mhe.NewEncryptor(params, pk)
	require.NoError(t, err)
	k, err := fingerprint.Generate()
	require.NoError(t, err)
	z, err := fingerprint.NewTokenizer(k)
	require.NoError(t, err)
	b := schema.NewBatch(testSchema, n)
	kwh := make([]int64, n)
	for r := 0; r < n; r++ {
		b.Cols[0].Strs = append(b.Cols[0].Strs, z.Token(schema.String, strings.Repeat("x", r%7)))
		b.Cols[1].Strs = append(b.Cols[1].Strs, "2025-0"+string(rune('1'+r%9)))
		kwh[r] = int64(r%1006) - 5
		b.Cols[2].Ints = append(b.Cols[2].Ints, 0)
		b.Cols[3].Ints = append(b.Cols[3].Ints, int64(r%2))
		b.Cols[4].Strs = append(b.Cols[4].Strs, "")
	}
	b.Len = n
	var cts []*mhe.Ciphertext
	for lo := 0; lo < n; lo += mhe.ChunkSize {
		ct, err := enc.EncryptChunk(kwh[lo:min(n, lo+mhe.ChunkSize)])
		require.NoError(t, err)
		cts = append(cts, ct)
	}
	h := &Header{Dataset: "electricity", Rows: int64(n), KeySHA256: strings.Repeat("a", 64), Columns: []Column{
		{"uscc", policy.Fingerprint}, {"month", policy.Clear}, {"kwh", policy.Encrypted}, {"green", policy.Clear}}}
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, h, testSchema, b, map[string][]*mhe.Ciphertext{"kwh": cts}))
	return buf.Bytes(), b
}

func TestRoundTrip(t *testing.T) {
	params, err := mhe.NewParameters()
	require.NoError(t, err)
	raw, b := sample(t, params, mhe.ChunkSize+3)
	u, err := Read(bytes.NewReader(raw), "electricity", testSchema, params)
	require.NoError(t, err)
	require.Equal(t, int64(mhe.ChunkSize+3), u.Header.Rows)
	for r, tok := range b.Cols[0].Strs {
		require.Equal(t, tok, hex.EncodeToString([]byte(u.Rows.Cols[0].Strs[r])), "row %d", r)
	}
	require.Equal(t, b.Cols[1].Strs, u.Rows.Cols[1].Strs)
	require.Equal(t, b.Cols[3].Ints, u.Rows.Cols[3].Ints)
	require.Len(t, u.Chunks["kwh"], 2)
	require.Equal(t, policy.Encrypted, u.Header.Treatments()["kwh"])
	require.Equal(t, make([]string, b.Len), u.Rows.Cols[4].Strs, "a column not uploaded is empty")
}

func TestReadRefuses(t *testing.T) {
	params, err := mhe.NewParameters()
	require.NoError(t, err)
	raw, _ := sample(t, params, 10)
	for _, tc := range []struct {
		name string
		mod  func([]byte) []byte
		want string
	}{
		{"bad magic", func(b []byte) []byte { b[0] = 'x'; return b }, "bad magic"},
		{"trailing data", func(b []byte) []byte { return append(b, 0) }, "data after the last column"},
		{"cut short", func(b []byte) []byte { return b[:len(b)-100] }, "kwh, chunk 1: cut short"},
		{"another dataset", func(b []byte) []byte { return bytes.Replace(b, []byte(`"electricity"`), []byte(`"electricitx"`), 1) }, "not electricity"},
		{"a value out of bounds", func(b []byte) []byte {
			// green comes last, one byte per row; row 1 holds 0: make it 2
			// (zig-zag 4).
			b[len(b)-10] = 4
			return b
		}, "column green, row 1: 2 is outside the declared bounds [0, 1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.mod(bytes.Clone(raw))), "electricity", testSchema, params)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func FuzzRead(f *testing.F) {
	params, err := mhe.NewParameters()
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := sample(f, params, 3)
	f.Add(raw)
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := Read(bytes.NewReader(b), "electricity", testSchema, params)
		if err != nil {
			return
		}
		if u.Rows.Len != int(u.Header.Rows) {
			t.Fatalf("%d rows, header says %d", u.Rows.Len, u.Header.Rows)
		}
	})
}
