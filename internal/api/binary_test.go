package api

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"runtime"
	"testing"
)

func TestKeySwitchRoundTrip(t *testing.T) {
	req := &KeySwitchRequest{Result: 42, Target: []byte("key"), Ciphers: [][]byte{{1, 2}, {}, {3}}}
	var b bytes.Buffer
	if err := WriteKeySwitchRequest(&b, req); err != nil {
		t.Fatal(err)
	}
	got, err := ReadKeySwitchRequest(bytes.NewReader(b.Bytes()))
	if err != nil || got.Result != 42 || string(got.Target) != "key" || len(got.Ciphers) != 3 || got.Ciphers[2][0] != 3 {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := ReadKeySwitchRequest(bytes.NewReader(append(b.Bytes(), 0))); err == nil {
		t.Fatal("trailing data accepted")
	}
	if _, err := ReadKeySwitchRequest(bytes.NewReader(b.Bytes()[:b.Len()-1])); err == nil {
		t.Fatal("a cut message accepted")
	}
	b.Reset()
	WriteShares(&b, [][]byte{{9}})
	if n := SharesLen([][]byte{{9}}); n != b.Len() {
		t.Fatalf("SharesLen %d, written %d", n, b.Len())
	}
	many := make([][]byte, 200)
	for i := range many {
		many[i] = make([]byte, 245770)
	}
	var big bytes.Buffer
	WriteShares(&big, many)
	if n := SharesLen(many); n != big.Len() {
		t.Fatalf("SharesLen %d, written %d", n, big.Len())
	}
	shares, err := ReadShares(&b)
	if err != nil || len(shares) != 1 || shares[0][0] != 9 {
		t.Fatalf("%v %v", shares, err)
	}
}

func FuzzReadKeySwitchRequest(f *testing.F) {
	var b bytes.Buffer
	WriteKeySwitchRequest(&b, &KeySwitchRequest{Result: 1, Target: []byte{1}, Ciphers: [][]byte{{2}}})
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := ReadKeySwitchRequest(bytes.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		WriteKeySwitchRequest(&out, req)
		again, err := ReadKeySwitchRequest(&out)
		if err != nil || again.Result != req.Result || !bytes.Equal(again.Target, req.Target) || len(again.Ciphers) != len(req.Ciphers) {
			t.Fatalf("round trip: %+v -> %+v, %v", req, again, err)
		}
	})
}

func heAnswer() *QueryResponse {
	rel := uint64(7)
	return &QueryResponse{DecisionEntry: 5, ReleaseEntry: &rel, ResultSHA256: "ab",
		HE: &HEResult{ResultEntry: 6, Groups: [][]string{{"A"}, {"B"}}, Ciphers: [][]byte{{1, 2, 3}, {}, {4}}}}
}

func TestHEAnswerRoundTrip(t *testing.T) {
	want := heAnswer()
	var b bytes.Buffer
	if err := WriteHEAnswer(&b, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHEAnswer(b.Bytes())
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%+v %v", got, err)
	}
	if want.HE.Ciphers == nil || len(want.HE.Ciphers) != 3 {
		t.Fatal("WriteHEAnswer changed its argument")
	}
	// The JSON form, from a node that does not send the binary one.
	j, _ := json.Marshal(want)
	if got, err := ReadHEAnswer(j); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("JSON form: %+v %v", got, err)
	}
	for name, in := range map[string][]byte{
		"trailing data": append(bytes.Clone(b.Bytes()), 0),
		"cut short":     b.Bytes()[:b.Len()-1],
		"no JSON part":  []byte(heAnswerMagic + "\x00\x00"),
		"not JSON":      []byte(heAnswerMagic + "\x01\x01{\x00"),
		"no HE result":  []byte(heAnswerMagic + "\x01\x02{}\x00"),
	} {
		if _, err := ReadHEAnswer(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Ciphertexts in the JSON part as well as after it.
	var dup bytes.Buffer
	dup.WriteString(heAnswerMagic)
	j, _ = json.Marshal(heAnswer())
	bw := bufio.NewWriter(&dup)
	writeBlobs(bw, [][]byte{j})
	writeBlobs(bw, nil)
	bw.Flush()
	if _, err := ReadHEAnswer(dup.Bytes()); err == nil {
		t.Error("ciphertexts in the JSON part accepted")
	}
	if err := WriteHEAnswer(&b, &QueryResponse{}); err == nil {
		t.Error("an answer without HE result written")
	}
}

func FuzzReadHEAnswer(f *testing.F) {
	var b bytes.Buffer
	WriteHEAnswer(&b, heAnswer())
	f.Add(b.Bytes())
	j, _ := json.Marshal(heAnswer())
	f.Add(j)
	f.Fuzz(func(t *testing.T, in []byte) {
		resp, err := ReadHEAnswer(in)
		if err != nil || resp.HE == nil {
			return
		}
		var out bytes.Buffer
		if err := WriteHEAnswer(&out, resp); err != nil {
			t.Fatal(err)
		}
		again, err := ReadHEAnswer(out.Bytes())
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		// No ciphertexts may come as null (JSON) or as none (binary).
		for _, r := range []*QueryResponse{resp, again} {
			if len(r.HE.Ciphers) == 0 {
				r.HE.Ciphers = nil
			}
		}
		a, _ := json.Marshal(resp)
		c, _ := json.Marshal(again)
		if !bytes.Equal(a, c) {
			t.Fatalf("round trip: %s -> %s", a, c)
		}
	})
}

// TestDeclaredLengthsCostNoMemory sends each binary reader a few bytes
// that declare a blob of tens of megabytes: each refuses the message
// without allocating anywhere near what was declared.
func TestDeclaredLengthsCostNoMemory(t *testing.T) {
	declare := func(magic string, prefix ...byte) []byte {
		b := append([]byte(magic), prefix...)
		b = binary.AppendUvarint(b, 1)          // one blob
		b = binary.AppendUvarint(b, 60<<20)     // of 60 MiB
		return append(b, "only a few bytes"...) // that are not there
	}
	readers := map[string]func() error{
		"HE answer": func() error { _, err := ReadHEAnswer(declare(heAnswerMagic)); return err },
		"key-switch request": func() error {
			_, err := ReadKeySwitchRequest(bytes.NewReader(declare(keySwitchMagic, 7)))
			return err
		},
		"shares": func() error { _, err := ReadShares(bytes.NewReader(declare(sharesMagic))); return err },
	}
	for name, read := range readers {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := read()
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: a cut-short blob accepted", name)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
			t.Errorf("%s: %d bytes allocated for a message of a few bytes", name, n)
		}
	}
}
