package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/connectors/from"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/heupload"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/fingerprint"
	"github.com/xjdata/cleanroom/protocols/mhe"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/release"
	"github.com/xjdata/cleanroom/schema"
)

// HESetup sends the authority's signed mhe-setup statement; the node runs
// the key generation with the providers' agents and answers once the
// collective key is logged and every agent has verified it.
func (c *Client) HESetup(ctx context.Context, stmt []byte) (*api.HESetupResult, error) {
	var out api.HESetupResult
	return &out, c.do(ctx, http.MethodPost, "/v1/mhe/setup", bytes.NewReader(stmt), nil, &out)
}

// HEFinish has the node run the finishing round of the setup on record
// again, for agents that missed it.
func (c *Client) HEFinish(ctx context.Context) (*api.HESetupResult, error) {
	var out api.HESetupResult
	return &out, c.do(ctx, http.MethodPost, "/v1/mhe/finish", nil, nil, &out)
}

// HEKeys are what a provider needs to upload in HE mode, from its agent's
// data directory: the collective public key and the shared fingerprint
// key.
type HEKeys struct {
	Collective  *mhe.PublicKey
	Fingerprint *fingerprint.Key
}

// LoadHEKeys reads the keys an agent keeps in dir once HE mode is set up.
func LoadHEKeys(dir string) (*HEKeys, error) {
	params, err := mhe.NewParameters()
	if err != nil {
		return nil, err
	}
	pb, err := os.ReadFile(filepath.Join(dir, "collective.pk"))
	if err != nil {
		return nil, fmt.Errorf("the agent in %s holds no collective key (is HE mode set up?): %w", dir, err)
	}
	pk, err := mhe.ParsePublicKey(params, pb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "collective.pk"), err)
	}
	fp := filepath.Join(dir, "fingerprint.key")
	if err := keys.CheckSecretMode(fp); err != nil {
		return nil, err
	}
	fb, err := os.ReadFile(fp)
	if err != nil {
		return nil, err
	}
	fk, err := fingerprint.ParseKey(fb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fp, err)
	}
	return &HEKeys{Collective: pk, Fingerprint: fk}, nil
}

// Treatments returns how an HE-mode upload of dataset d carries each of
// its columns under a letter's rules for it, exposing as little as the
// rules allow: the privacy unit and join keys become keyed fingerprints;
// group-by and filter columns stay clear; numeric columns that may only
// be aggregated are encrypted under the collective key; a string column
// that may only be counted becomes a fingerprint; a column without a rule
// is not uploaded at all.
func Treatments(d *policy.Dataset, rules []policy.ColumnRule) map[string]policy.Treatment {
	out := map[string]policy.Treatment{}
	for _, r := range rules {
		i := d.Schema.Index(r.Column)
		if i < 0 {
			continue
		}
		has := func(u policy.Use) bool { return slices.Contains(r.Uses, u) }
		switch {
		case has(query.UseJoinKey):
			out[r.Column] = policy.Fingerprint
		case has(query.UseGroupBy) || has(query.UseFilter):
			out[r.Column] = policy.Clear
		case d.Schema.Columns[i].Type == schema.String:
			out[r.Column] = policy.Fingerprint
		default:
			out[r.Column] = policy.Encrypted
		}
	}
	if d.Unit != "" {
		out[d.Unit] = policy.Fingerprint
	}
	return out
}

// HEProgress is told, during an HE-mode upload, which stage it is in and
// how far: "read" (rows), "encrypt" (values), "send" (bytes).
type HEProgress func(stage string, done, total int64)

// UploadHE uploads the CSV file at path into dataset d in multiparty HE
// mode; see UploadHEFrom.
func (c *Client) UploadHE(ctx context.Context, signer note.Signer, d *policy.Dataset, treat map[string]policy.Treatment, hk *HEKeys, path string, progress HEProgress) (*api.Uploaded, error) {
	res, err := c.UploadHEFrom(ctx, signer, d, treat, hk, from.Spec{Kind: "csv", Path: path}, from.Options{}, false, progress)
	if err != nil {
		return nil, err
	}
	return &res.Uploaded, nil
}

// HEUploaded is what UploadHEFrom did.
type HEUploaded struct {
	api.Uploaded
	// Clamped counts the values clamped to their bounds, by column, when
	// clamping was asked for.
	Clamped map[string]int64
}

// UploadHEFrom uploads a table from any source (see package from) into
// dataset d in multiparty HE mode, carrying each column as treat says
// (see Treatments). It reads and checks the whole source first (bad input
// is reported with where it is before anything leaves the machine; with
// clamp, values outside their declared bounds are moved to the nearest
// bound and counted instead), turns fingerprint columns into keyed
// tokens, encrypts the encrypted columns under the collective key on
// every core, and streams the container, inside age to the node, with a
// signed upload statement naming the rows, the SHA-256 of their canonical
// CSV and the treatments. The rows are held in memory while they are
// encrypted (at most heupload's row cap).
func (c *Client) UploadHEFrom(ctx context.Context, signer note.Signer, d *policy.Dataset, treat map[string]policy.Treatment, hk *HEKeys, sp from.Spec, src from.Options, clamp bool, progress HEProgress) (*HEUploaded, error) {
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	src.Loose = clamp
	r, err := from.Open(ctx, sp, &d.Schema, src)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	name := r.Name
	var clamper *connectors.Clamper
	if clamp {
		clamper = connectors.NewClamper(&d.Schema)
	}
	rows := schema.NewBatch(&d.Schema, 0)
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if clamper != nil {
			clamper.Clamp(b)
		}
		if int64(rows.Len)+int64(b.Len) > heupload.MaxRows {
			return nil, fmt.Errorf("%s: more than %d rows, the most one HE upload takes; split the table", name, int64(heupload.MaxRows))
		}
		rows.Append(b)
		progress("read", int64(rows.Len), 0)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	progress("read", int64(rows.Len), int64(rows.Len))
	if rows.Len == 0 {
		return nil, fmt.Errorf("%s holds no rows", name)
	}
	// The statement names the rows by the hash of their canonical CSV,
	// the same from every source, as a sealed upload's parts do.
	h := sha256.New()
	w, err := connectors.NewCSVWriter(h, &d.Schema)
	if err != nil {
		return nil, err
	}
	if err := w.Write(rows); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}

	params, err := mhe.NewParameters()
	if err != nil {
		return nil, err
	}
	kh := hk.Collective.Hash()
	hdr := &heupload.Header{Dataset: d.Name, Rows: int64(rows.Len), KeySHA256: hex.EncodeToString(kh[:])}
	tok, err := fingerprint.NewTokenizer(hk.Fingerprint)
	if err != nil {
		return nil, err
	}
	enc, err := mhe.NewEncryptor(params, hk.Collective)
	if err != nil {
		return nil, err
	}
	encrypted := map[string][]*mhe.Ciphertext{}
	var nEnc int64
	for _, col := range d.Schema.Columns {
		if treat[col.Name] == policy.Encrypted {
			nEnc++
		}
	}
	totalValues, doneValues := nEnc*int64(rows.Len), int64(0)
	for i, col := range d.Schema.Columns {
		t, ok := treat[col.Name]
		if !ok {
			continue
		}
		hdr.Columns = append(hdr.Columns, heupload.Column{Name: col.Name, Treatment: t})
		switch t {
		case policy.Fingerprint:
			rows.Cols[i] = tok.Column(col.Type, &rows.Cols[i])
		case policy.Encrypted:
			cts := make([]*mhe.Ciphertext, heupload.Chunks(int64(rows.Len)))
			err := enc.EncryptColumn(ctx, rows.Cols[i].Ints, runtime.GOMAXPROCS(0), func(k int, ct *mhe.Ciphertext) error {
				cts[k] = ct
				doneValues += int64(min(mhe.ChunkSize, rows.Len-k*mhe.ChunkSize))
				progress("encrypt", doneValues, totalValues)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("encrypting %s: %w", col.Name, err)
			}
			encrypted[col.Name] = cts
		}
	}

	size := int64(len(heupload.Magic)) + int64(rows.Len)*int64(len(hdr.Columns))*8 + int64(len(encrypted))*heupload.Chunks(int64(rows.Len))*mhe.CiphertextSize
	up, err := c.put(ctx, signer, policy.Upload{
		Dataset: d.Name, File: name, Rows: int64(rows.Len), PlaintextSHA256: hex.EncodeToString(h.Sum(nil)),
		HE: &policy.HEUpload{KeySHA256: hdr.KeySHA256, Columns: hdr.Treatments()},
	}, size, func(done, total int64) { progress("send", done, total) }, func(w io.Writer) error {
		return heupload.Write(w, hdr, &d.Schema, rows, encrypted)
	})
	if err != nil {
		return nil, err
	}
	res := &HEUploaded{Uploaded: *up}
	if clamper != nil {
		res.Clamped = clamper.Clamped()
	}
	return res, nil
}

// QueryHE sends a signed HE-mode query with the operator's result key,
// whose hash the statement names. Decrypt the result with DecryptHE.
func (c *Client) QueryHE(ctx context.Context, stmt []byte, resultKey *mhe.PublicKey) (*api.QueryResponse, error) {
	kb, err := resultKey.MarshalBinary()
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(api.HEQuery{Statement: string(stmt), ResultKey: kb})
	if err != nil {
		return nil, err
	}
	var raw []byte
	if err := c.do(ctx, http.MethodPost, "/v1/he/queries", bytes.NewReader(body), map[string]string{"Content-Type": "application/json", "Accept": api.BinaryType}, &raw); err != nil {
		return nil, err
	}
	out, err := api.ReadHEAnswer(raw)
	if err != nil {
		return nil, fmt.Errorf("decoding the node's answer: %w", err)
	}
	return out, nil
}

// ResultKeyHash returns the hex SHA-256 a query names for a result key.
func ResultKeyHash(pk *mhe.PublicKey) string {
	h := pk.Hash()
	return hex.EncodeToString(h[:])
}

// DecryptHE decrypts an HE-mode result with the operator's result key and
// formats it as sealed mode does.
func DecryptHE(he *api.HEResult, sk *mhe.ResultSecretKey) (*api.Result, error) {
	params, err := mhe.NewParameters()
	if err != nil {
		return nil, err
	}
	if he == nil || he.Plan == nil {
		return nil, errors.New("no HE result")
	}
	layout := release.NewLayout(he.Aggs, len(he.Groups))
	want := layout.Ciphers()
	if layout.ClearLen() > 0 {
		want++
	}
	if len(he.Ciphers) != want {
		return nil, fmt.Errorf("the result has %d ciphertexts, its layout %d", len(he.Ciphers), want)
	}
	plain := make([][]int64, len(he.Ciphers))
	for i, b := range he.Ciphers {
		ct, err := mhe.ParseCiphertext(params, b)
		if err != nil {
			return nil, fmt.Errorf("result ciphertext %d: %w", i, err)
		}
		if plain[i], err = sk.Decrypt(params, ct); err != nil {
			return nil, fmt.Errorf("result ciphertext %d: %w", i, err)
		}
	}
	raw := make([]int64, len(layout.Values))
	for i, v := range layout.Values {
		c := v.Cipher
		if c < 0 {
			c = layout.Ciphers()
		}
		raw[i] = plain[c][v.Pos]
	}
	rows, err := layout.Finish(he.Plan, he.Groups, raw)
	if err != nil {
		return nil, err
	}
	res := &api.Result{}
	cis, err := describeHE(he, layout, raw, res)
	if err != nil {
		return nil, err
	}
	// HAVING, ORDER BY and LIMIT, on the decrypted noisy values, as the
	// enclave applies them in sealed mode.
	keep, err := he.Plan.Select(rows, he.Groups)
	if err != nil {
		return nil, err
	}
	res.Rows = make([][]string, len(keep))
	for i, k := range keep {
		res.Rows[i] = rows[k]
		if cis != nil {
			res.Intervals = append(res.Intervals, cis[k])
		}
	}
	for _, o := range he.Plan.Outputs {
		res.Columns = append(res.Columns, o.Name)
	}
	return res, nil
}

// heAlpha is the level of an HE result's intervals, as in sealed mode:
// 95%.
const heAlpha = 0.05

// describeHE sets res's Stats and Selection from the noise an HE result
// declares, as sealed mode describes its values, and returns per group
// and output column the values' confidence intervals (nil when the
// mechanism is not the DP library's or the node declares none).
func describeHE(he *api.HEResult, layout release.Layout, raw []int64, res *api.Result) ([][]*api.Interval, error) {
	if he.Draws < 1 {
		return nil, nil // a node that does not describe its noise
	}
	if err := he.Privacy.Validate(); err != nil {
		return nil, fmt.Errorf("the result's privacy parameters: %w", err)
	}
	mech := he.Mechanism
	if he.Draws > 1 {
		mech = fmt.Sprintf("%s, one sample from each of %d providers", mech, he.Draws)
	}
	naggs := len(he.Aggs)
	p := he.Privacy
	res.Selection = &api.Stats{Mechanism: he.Mechanism, Epsilon: p.Epsilon / float64(naggs+1), Delta: p.Delta, L0: p.MaxGroupsPerUnit, LInf: 1}
	res.Stats = make([]*api.Stats, len(he.Plan.Outputs))
	ai := 0
	for i, o := range he.Plan.Outputs {
		if o.Func != "" {
			s := release.SensitivityOf(he.Aggs[ai], p, naggs)
			res.Stats[i] = &api.Stats{Mechanism: mech, Epsilon: s.Epsilon, L0: s.L0, LInf: s.LInf}
			ai++
		}
	}
	n, ok := release.NoiseNamed(he.Mechanism)
	if !ok {
		return nil, nil
	}
	byAgg, err := layout.Intervals(p, n, he.Draws, raw, heAlpha)
	if err != nil {
		// The values decrypted; only their error bars could not be
		// derived from what the node declared.
		return nil, nil
	}
	res.Level = 1 - heAlpha
	out := make([][]*api.Interval, len(byAgg))
	for g, cis := range byAgg {
		out[g] = make([]*api.Interval, len(he.Plan.Outputs))
		ai := 0
		for i, o := range he.Plan.Outputs {
			if o.Func == "" {
				continue
			}
			if ci := cis[ai]; ci != nil {
				lo, hi := release.FormatInterval(he.Aggs[ai], *ci)
				out[g][i] = &api.Interval{Lo: lo, Hi: hi}
			}
			ai++
		}
	}
	return out, nil
}
