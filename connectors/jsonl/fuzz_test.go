package jsonl_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/jsonl"
	"github.com/xjdata/cleanroom/schema"
)

func fuzzSchema() *schema.Schema {
	return &schema.Schema{Columns: []schema.Column{
		{Name: "name", Type: schema.String, MaxLen: 40},
		{Name: "n", Type: schema.Int, Min: i64(-1000), Max: i64(1000)},
		{Name: "ok", Type: schema.Bool},
		{Name: "d", Type: schema.Date, Min: i64(day("1970-01-01")), Max: i64(day("2100-12-31"))},
	}}
}

// FuzzReader checks that the reader never crashes; that reading whole, or
// one byte at a time in batches of any size, gives the same rows or the
// same *Error, with a short message; that every line it accepts is JSON to
// encoding/json too, with the same values; and that a batch it returns,
// written back by encoding/json, reads back to the same batch. The seed
// corpus is in testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	f.Add([]byte(`{"name":"x","n":1,"ok":true,"d":"2020-01-01"}`+"\n"), uint8(1), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, size uint8, maxLine uint16) {
		s := fuzzSchema()
		opts := jsonl.Options{File: "fuzz.jsonl", BatchSize: int(size%8) + 1, MaxLine: int(maxLine)}
		b, err := jsonl.ReadAll(bytes.NewReader(data), s, opts)
		b2, err2 := readBatches(t, iotest.OneByteReader(bytes.NewReader(data)), s, opts)
		if err != nil {
			require.Nil(t, b)
			require.Error(t, err2)
			require.Equal(t, err.Error(), err2.Error())
			var e *jsonl.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, "fuzz.jsonl", e.File)
			require.Positive(t, e.Line)
			require.Positive(t, e.Column)
			require.LessOrEqual(t, len(err.Error()), 512, "message too long: %s", err)
			return
		}
		require.NoError(t, err2)
		require.Equal(t, b, b2)

		// encoding/json agrees.
		lines := bytes.Split(bytes.TrimPrefix(data, []byte("\ufeff")), []byte("\n"))
		if len(lines[len(lines)-1]) == 0 {
			lines = lines[:len(lines)-1]
		}
		require.Len(t, lines, b.Len)
		for i, line := range lines {
			require.True(t, json.Valid(line), "line %d: %q", i+1, line)
			d := json.NewDecoder(bytes.NewReader(line))
			d.UseNumber()
			var m map[string]any
			require.NoError(t, d.Decode(&m))
			require.Len(t, m, len(s.Columns))
			require.Equal(t, b.Cols[0].Strs[i], m["name"])
			require.Equal(t, json.Number(strconv.FormatInt(b.Cols[1].Ints[i], 10)), normalize(m["n"]))
			require.Equal(t, b.Cols[2].Ints[i] == 1, m["ok"])
			require.Equal(t, schema.FormatDate(b.Cols[3].Ints[i]), m["d"])
		}

		// What encoding/json writes reads back.
		var out bytes.Buffer
		for i := range b.Len {
			line, err := json.Marshal(map[string]any{
				"d":    schema.FormatDate(b.Cols[3].Ints[i]),
				"ok":   b.Cols[2].Ints[i] == 1,
				"n":    b.Cols[1].Ints[i],
				"name": b.Cols[0].Strs[i],
			})
			require.NoError(t, err)
			out.Write(line)
			out.WriteString("\r\n")
		}
		again, err := jsonl.ReadAll(&out, s, jsonl.Options{})
		require.NoError(t, err)
		require.Equal(t, b.Cols, again.Cols)
		require.Equal(t, b.Len, again.Len)
	})
}

// normalize writes -0 as 0.
func normalize(v any) any {
	if v == json.Number("-0") {
		return json.Number("0")
	}
	return v
}
