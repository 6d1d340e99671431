package api

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The key-switch round carries megabytes of ciphertexts and shares, so it
// travels as bytes (Content-Type application/octet-stream) rather than as
// base64 in JSON:
//
//	request   "cleanroom-keyswitch/v1\n", uvarint Result, blob Target,
//	          uvarint n, n blobs (the ciphertexts)
//	response  "cleanroom-shares/v1\n", uvarint n, n blobs
//
// where a blob is a uvarint length and that many bytes.
const (
	keySwitchMagic = "cleanroom-keyswitch/v1\n"
	sharesMagic    = "cleanroom-shares/v1\n"
	// MaxBlob bounds one ciphertext, share or key in these messages.
	MaxBlob = 1 << 20
	// MaxBlobs bounds how many a message holds.
	MaxBlobs = 1 << 14
)

// WriteKeySwitchRequest writes req in the binary form.
func WriteKeySwitchRequest(w io.Writer, req *KeySwitchRequest) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(keySwitchMagic)
	bw.Write(binary.AppendUvarint(nil, req.Result))
	writeBlobs(bw, [][]byte{req.Target})
	writeBlobs(bw, req.Ciphers)
	return bw.Flush()
}

// ReadKeySwitchRequest reads a request in the binary form, strictly.
func ReadKeySwitchRequest(r io.Reader) (*KeySwitchRequest, error) {
	br := bufio.NewReader(r)
	if err := readMagic(br, keySwitchMagic); err != nil {
		return nil, err
	}
	res, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, errors.New("key-switch request: no result entry")
	}
	target, err := readBlobs(br)
	if err != nil || len(target) != 1 {
		return nil, errors.New("key-switch request: no target key")
	}
	cts, err := readBlobs(br)
	if err != nil {
		return nil, fmt.Errorf("key-switch request: ciphertexts: %w", err)
	}
	if err := atEOF(br); err != nil {
		return nil, err
	}
	return &KeySwitchRequest{Result: res, Target: target[0], Ciphers: cts}, nil
}

// WriteShares writes a key-switch response in the binary form.
func WriteShares(w io.Writer, shares [][]byte) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(sharesMagic)
	writeBlobs(bw, shares)
	return bw.Flush()
}

// ReadShares reads a key-switch response in the binary form, strictly.
func ReadShares(r io.Reader) ([][]byte, error) {
	br := bufio.NewReader(r)
	if err := readMagic(br, sharesMagic); err != nil {
		return nil, err
	}
	shares, err := readBlobs(br)
	if err != nil {
		return nil, fmt.Errorf("shares: %w", err)
	}
	return shares, atEOF(br)
}

func writeBlobs(w *bufio.Writer, blobs [][]byte) {
	w.Write(binary.AppendUvarint(nil, uint64(len(blobs))))
	for _, b := range blobs {
		w.Write(binary.AppendUvarint(nil, uint64(len(b))))
		w.Write(b)
	}
}

func readBlobs(r *bufio.Reader) ([][]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > MaxBlobs {
		return nil, errors.New("bad count")
	}
	out := make([][]byte, 0, min(n, 64))
	for range n {
		l, err := binary.ReadUvarint(r)
		if err != nil || l > MaxBlob {
			return nil, errors.New("bad length")
		}
		b := make([]byte, l)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, errors.New("cut short")
		}
		out = append(out, b)
	}
	return out, nil
}

func readMagic(r *bufio.Reader, magic string) error {
	b := make([]byte, len(magic))
	if _, err := io.ReadFull(r, b); err != nil || string(b) != magic {
		return fmt.Errorf("not a %q message", magic[:len(magic)-1])
	}
	return nil
}

func atEOF(r *bufio.Reader) error {
	if _, err := r.ReadByte(); err != io.EOF {
		return errors.New("data after the message")
	}
	return nil
}
