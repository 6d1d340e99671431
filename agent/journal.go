package agent

import (
	"encoding/json"
	"fmt"
	"github.com/xjdata/cleanroom/internal/keys"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// journal records every set of key-switch shares the agent issued,
// durably, before it answers: one file per heresult entry, holding the
// hash of the request and the key-switch identity (the hash of the c1
// part, mhe.Ciphertext.KeySwitchID) of each ciphertext. It indexes those,
// so that no ciphertext is ever switched twice, under any entry and
// whatever its c0 part.
type journal struct {
	dir     string
	ciphers map[string]uint64 // key-switch identity → heresult entry
}

type issued struct {
	Result        uint64 `json:"result"`
	RequestSHA256 string `json:"request_sha256"`
	// Ciphers are the key-switch identities of the ciphertexts.
	Ciphers []string `json:"ciphers"`
}

func openJournal(dir string) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: journal: %w", err)
	}
	j := &journal{dir: dir, ciphers: map[string]uint64{}}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("agent: journal: %w", err)
	}
	for _, de := range names {
		name := de.Name()
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		rec, err := j.read(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		for _, c := range rec.Ciphers {
			j.ciphers[c] = rec.Result
		}
	}
	return j, nil
}

func (j *journal) path(result uint64) string {
	return filepath.Join(j.dir, "result-"+strconv.FormatUint(result, 10)+".json")
}

func (j *journal) read(path string) (*issued, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("agent: journal: %w", err)
	}
	var rec issued
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("agent: journal: %s: %w", path, err)
	}
	return &rec, nil
}

// lookup returns what was issued for the heresult entry result, if
// anything.
func (j *journal) lookup(result uint64) (*issued, error) {
	p := j.path(result)
	if _, err := os.Stat(p); os.IsNotExist(err) {
		return nil, nil
	}
	return j.read(p)
}

// switched returns the heresult entry under which a ciphertext was
// switched, if it was.
func (j *journal) switched(cipher string) (uint64, bool) {
	r, ok := j.ciphers[cipher]
	return r, ok
}

// record stores rec durably.
func (j *journal) record(rec *issued) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := keys.WriteDurable(j.path(rec.Result), b, 0o600); err != nil {
		return fmt.Errorf("agent: journal: %w", err)
	}
	for _, c := range rec.Ciphers {
		j.ciphers[c] = rec.Result
	}
	return nil
}
