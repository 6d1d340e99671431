package node

import (
	"errors"
	"net/http"
	"sync"

	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/state"
)

// handleDestroy destroys a dataset (Art. 31, 57(4)): it hashes what it
// will delete, logs the destroy statement with that evidence (durable
// first), then deletes the dataset's stored files in both modes and erases
// its key. A crash after logging is finished at the next start
// (finishDestructions).
func (n *Node) handleDestroy(w http.ResponseWriter, raw []byte, st *statement.Statement) {
	var d policy.Destruction
	err := st.Decode(&d)
	if err == nil {
		// Who may destroy what is checked before any file is read.
		err = n.st.Load().Check(&state.Entry{Kind: state.KindStatement, Time: n.entryTime(), Statement: string(raw), Destroyed: &state.Destroyed{Files: []state.FileHash{}}})
	}
	if err != nil {
		status, code := statusOf(err)
		n.reject(w, status, code, raw, "", err)
		return
	}
	// No upload of the dataset lands between the evidence and the
	// deletion.
	unlock := n.lockDataset(d.Dataset)
	defer unlock()
	ev, err := n.evidence(d.Dataset)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, api.CodeInternal, "hashing the dataset's files: "+err.Error(), nil)
		return
	}
	i, err := n.append(&state.Entry{Kind: state.KindStatement, Statement: string(raw), Destroyed: ev})
	if errors.Is(err, errAudit) {
		writeErr(w, http.StatusServiceUnavailable, api.CodeUnavailable, err.Error(), nil)
		return
	}
	if err != nil {
		status, code := statusOf(err)
		n.reject(w, status, code, raw, "", err)
		return
	}
	if err := n.shred(d.Dataset); err != nil {
		n.log.Error("destroying a dataset", "dataset", d.Dataset, "err", err)
		writeErr(w, http.StatusInternalServerError, api.CodeInternal, "the destruction is logged but deleting failed (the node finishes it at its next start): "+err.Error(), &i)
		return
	}
	n.log.Info("dataset destroyed", "entry", i, "dataset", d.Dataset, "files", len(ev.Files))
	writeJSON(w, http.StatusOK, api.Submitted{Kind: string(st.Kind), Entry: i})
}

// evidence hashes every stored file of a dataset and its key.
func (n *Node) evidence(dataset string) (*state.Destroyed, error) {
	ev := &state.Destroyed{Files: []state.FileHash{}}
	sealed, err := n.store.Evidence(dataset)
	if err != nil {
		return nil, err
	}
	he, err := n.heStore.evidence(dataset)
	if err != nil {
		return nil, err
	}
	for _, f := range append(sealed, he...) {
		ev.Files = append(ev.Files, state.FileHash{Name: f.Name, SHA256: f.SHA256})
	}
	if ev.KeySHA256, err = n.keys.KeyHash(dataset); err != nil {
		return nil, err
	}
	return ev, nil
}

// shred deletes a dataset's stored files in both modes and erases its key.
func (n *Node) shred(dataset string) error {
	if err := n.store.Destroy(dataset); err != nil {
		return err
	}
	if err := n.heStore.destroy(dataset); err != nil {
		return err
	}
	_, err := n.keys.Erase(dataset)
	return err
}

// finishDestructions deletes what is left of datasets the ledger records
// as destroyed: a crash between logging and deleting leaves it.
func (n *Node) finishDestructions() error {
	snap := n.snapshot()
	for _, d := range snap.Datasets() {
		if snap.Destroyed(d.Name) {
			if err := n.shred(d.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// lockDataset holds a dataset's stored files for what changes them as a
// whole (destruction, abandoning an upload, an HE upload): no sealed
// upload is under way meanwhile. It returns the unlock.
func (n *Node) lockDataset(name string) func() {
	m := n.datasetLock(name)
	m.Lock()
	return m.Unlock
}

// shareDataset holds a dataset's stored files for one sealed upload, which
// may run beside others (each writes only its own file). It returns the
// unlock.
func (n *Node) shareDataset(name string) func() {
	m := n.datasetLock(name)
	m.RLock()
	return m.RUnlock
}

func (n *Node) datasetLock(name string) *sync.RWMutex {
	n.dsMu.Lock()
	defer n.dsMu.Unlock()
	if n.dsLocks == nil {
		n.dsLocks = map[string]*sync.RWMutex{}
	}
	m := n.dsLocks[name]
	if m == nil {
		m = &sync.RWMutex{}
		n.dsLocks[name] = m
	}
	return m
}

// handleAbandon logs a holder's abandoning of an incomplete multipart
// upload, then deletes its landed parts. A crash between the two leaves
// files no ledger entry keeps, which the next start removes.
func (n *Node) handleAbandon(w http.ResponseWriter, raw []byte, st *statement.Statement) {
	var a policy.Abandon
	if err := st.Decode(&a); err != nil {
		n.reject(w, http.StatusBadRequest, api.CodeMalformed, raw, "", err)
		return
	}
	// No part of the upload lands between listing and deleting.
	unlock := n.lockDataset(a.Dataset)
	defer unlock()
	var ids []string
	for _, d := range n.snapshot().Datasets() {
		if d.Name != a.Dataset {
			continue
		}
		for _, p := range d.Pending {
			if p.Set == a.Set {
				ids = append(ids, p.UploadID)
			}
		}
	}
	i, err := n.append(&state.Entry{Kind: state.KindStatement, Statement: string(raw)})
	if errors.Is(err, errAudit) {
		writeErr(w, http.StatusServiceUnavailable, api.CodeUnavailable, err.Error(), nil)
		return
	}
	if err != nil {
		status, code := statusOf(err)
		n.reject(w, status, code, raw, "", err)
		return
	}
	for _, id := range ids {
		if err := n.store.Remove(a.Dataset, id); err != nil {
			n.log.Error("deleting an abandoned part (the next start removes it)", "dataset", a.Dataset, "upload", id, "err", err)
		}
	}
	n.log.Info("multipart upload abandoned", "entry", i, "dataset", a.Dataset, "set", a.Set, "parts", len(ids))
	writeJSON(w, http.StatusOK, api.Submitted{Kind: string(st.Kind), Entry: i})
}
