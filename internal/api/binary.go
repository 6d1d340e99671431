package api

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The key-switch round and the answer to an HE-mode query carry megabytes
// of ciphertexts and shares, so they travel as bytes (Content-Type
// BinaryType) rather than as base64 in JSON:
//
//	request   "cleanroom-keyswitch/v1\n", uvarint Result, blob Target,
//	          uvarint n, n blobs (the ciphertexts)
//	response  "cleanroom-shares/v1\n", uvarint n, n blobs
//	HE answer "cleanroom-he-answer/v1\n", uvarint 1, blob (the
//	          QueryResponse as JSON, without HE.Ciphers), uvarint n,
//	          n blobs (HE.Ciphers)
//
// where a blob is a uvarint length and that many bytes. A client asks for
// the binary HE answer with the header "Accept: application/octet-stream".
const (
	keySwitchMagic = "cleanroom-keyswitch/v1\n"
	sharesMagic    = "cleanroom-shares/v1\n"
	heAnswerMagic  = "cleanroom-he-answer/v1\n"
	// MaxBlob bounds one ciphertext, share or key in these messages.
	MaxBlob = 1 << 20
	// MaxBlobs bounds how many a message holds.
	MaxBlobs = 1 << 14
	// maxAnswerJSON bounds the JSON part of an HE answer.
	maxAnswerJSON = 64 << 20
)

// BinaryType is the content type of the binary forms.
const BinaryType = "application/octet-stream"

// WriteHEAnswer writes the answer to an HE-mode query (resp.HE set) in the
// binary form.
func WriteHEAnswer(w io.Writer, resp *QueryResponse) error {
	if resp.HE == nil {
		return errors.New("HE answer: no HE result")
	}
	plain, he := *resp, *resp.HE
	he.Ciphers = nil
	plain.HE = &he
	j, err := json.Marshal(&plain)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(heAnswerMagic)
	writeBlobs(bw, [][]byte{j})
	writeBlobs(bw, resp.HE.Ciphers)
	return bw.Flush()
}

// ReadHEAnswer decodes the answer to an HE-mode query: the binary form,
// strictly, or the JSON form of a node that does not send the binary one.
func ReadHEAnswer(b []byte) (*QueryResponse, error) {
	var resp QueryResponse
	if !bytes.HasPrefix(b, []byte(heAnswerMagic)) {
		if err := json.Unmarshal(b, &resp); err != nil {
			return nil, err
		}
		return &resp, nil
	}
	br := bufio.NewReader(bytes.NewReader(b))
	if err := readMagic(br, heAnswerMagic); err != nil {
		return nil, err
	}
	j, err := readBlobsMax(br, maxAnswerJSON)
	if err != nil || len(j) != 1 {
		return nil, errors.New("HE answer: no JSON part")
	}
	cts, err := readBlobs(br)
	if err != nil {
		return nil, fmt.Errorf("HE answer: ciphertexts: %w", err)
	}
	if err := atEOF(br); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(j[0], &resp); err != nil {
		return nil, fmt.Errorf("HE answer: %w", err)
	}
	if resp.HE == nil || resp.HE.Ciphers != nil {
		return nil, errors.New("HE answer: the JSON part must hold an HE result without its ciphertexts")
	}
	resp.HE.Ciphers = cts
	return &resp, nil
}

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

// SharesLen returns the length of WriteShares' output, for a
// Content-Length header.
func SharesLen(shares [][]byte) int {
	n := len(sharesMagic) + uvarintLen(uint64(len(shares)))
	for _, b := range shares {
		n += uvarintLen(uint64(len(b))) + len(b)
	}
	return n
}

func uvarintLen(x uint64) int { return len(binary.AppendUvarint(nil, x)) }

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
	return readBlobsMax(r, MaxBlob)
}

// readBlobsMax reads blobs of at most maxLen bytes each.
func readBlobsMax(r *bufio.Reader, maxLen uint64) ([][]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > MaxBlobs {
		return nil, errors.New("bad count")
	}
	out := make([][]byte, 0, min(n, 64))
	for range n {
		l, err := binary.ReadUvarint(r)
		if err != nil || l > maxLen {
			return nil, errors.New("bad length")
		}
		b, err := readN(r, l)
		if err != nil {
			return nil, errors.New("cut short")
		}
		out = append(out, b)
	}
	return out, nil
}

// eagerAlloc is the largest blob readN allocates at once, before its
// bytes arrive: a larger one grows with the bytes actually read, so that
// a declared length costs no more memory than the input holds.
const eagerAlloc = 1 << 20

// readN reads exactly n bytes.
func readN(r io.Reader, n uint64) ([]byte, error) {
	if n <= eagerAlloc {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	var buf bytes.Buffer
	m, err := buf.ReadFrom(io.LimitReader(r, int64(n)))
	if err == nil && uint64(m) != n {
		err = io.ErrUnexpectedEOF
	}
	return buf.Bytes(), err
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
