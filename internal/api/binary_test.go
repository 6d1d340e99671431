package api

import (
	"bytes"
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
