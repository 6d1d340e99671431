package ledger

import (
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// hasher is the RFC 6962 hasher (SHA-256) the whole package uses.
var hasher = rfc6962.DefaultHasher

var rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

// tree holds, in memory, the hash of every perfect subtree of the log's
// Merkle tree: levels[l] holds the 32-byte hashes of the subtrees of 2^l
// leaves, left to right (levels[0] are the leaf hashes). That is about 64
// bytes per entry, and every node a proof needs is a lookup. rng is the
// compact range [0, size), from which roots come.
//
// Not thread-safe; the Log guards it.
type tree struct {
	rng    *compact.Range
	levels []hashes
}

// hashes is a growing array of 32-byte hashes, kept in chunks of at most
// chunkHashes so that growing it never copies more than one chunk.
type hashes struct {
	chunks [][]byte
	n      uint64
}

const chunkHashes = 1 << 15 // 1 MiB per chunk

func (h *hashes) append(hash []byte) {
	if h.n%chunkHashes == 0 {
		h.chunks = append(h.chunks, nil)
	}
	last := len(h.chunks) - 1
	h.chunks[last] = append(h.chunks[last], hash...)
	h.n++
}

// at returns hash i (not a copy).
func (h *hashes) at(i uint64) []byte {
	off := (i % chunkHashes) * hashSize
	return h.chunks[i/chunkHashes][off : off+hashSize]
}

func newTree() *tree {
	return &tree{rng: rangeFactory.NewEmptyRange(0)}
}

func (t *tree) size() uint64 { return t.rng.End() }

// append adds a leaf hash.
func (t *tree) append(leaf []byte) {
	if err := t.rng.Append(leaf, t.store); err != nil {
		panic(fmt.Sprintf("ledger: compact range append: %v", err)) // cannot happen for a range starting at 0
	}
}

// store records a perfect subtree's hash reported by the compact range.
func (t *tree) store(id compact.NodeID, hash []byte) {
	for uint(len(t.levels)) <= id.Level {
		t.levels = append(t.levels, hashes{})
	}
	if t.levels[id.Level].n != id.Index {
		panic(fmt.Sprintf("ledger: node (%d, %d) reported out of order", id.Level, id.Index))
	}
	t.levels[id.Level].append(hash)
}

// root is the RFC 6962 root hash of the tree.
func (t *tree) root() []byte {
	return rootOf(t.rng)
}

func rootOf(r *compact.Range) []byte {
	if r.End() == 0 {
		return hasher.EmptyRoot()
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		panic(fmt.Sprintf("ledger: compact range root: %v", err)) // cannot happen for a range starting at 0
	}
	return root
}

// pending is the tree after a batch of leaves, computed without changing
// the tree, so that a failed batch leaves it as it was.
type pending struct {
	rng   *compact.Range
	nodes []pendingNode
	root  []byte
}

type pendingNode struct {
	id   compact.NodeID
	hash []byte
}

// prepare computes the tree after appending leaves, the concatenation of
// 32-byte leaf hashes.
func (t *tree) prepare(leaves []byte) *pending {
	hashes := append([][]byte(nil), t.rng.Hashes()...)
	r, err := rangeFactory.NewRange(0, t.rng.End(), hashes)
	if err != nil {
		panic(fmt.Sprintf("ledger: copy compact range: %v", err))
	}
	p := &pending{rng: r, nodes: make([]pendingNode, 0, 2*len(leaves)/hashSize)}
	visit := func(id compact.NodeID, hash []byte) {
		p.nodes = append(p.nodes, pendingNode{id, hash})
	}
	for k := 0; k < len(leaves); k += hashSize {
		if err := r.Append(leaves[k:k+hashSize:k+hashSize], visit); err != nil {
			panic(fmt.Sprintf("ledger: compact range append: %v", err))
		}
	}
	p.root = rootOf(r)
	return p
}

func (t *tree) commit(p *pending) {
	for _, n := range p.nodes {
		t.store(n.id, n.hash)
	}
	t.rng = p.rng
}

// leaf returns leaf hash i (not a copy).
func (t *tree) leaf(i uint64) []byte {
	return t.levels[0].at(i)
}

// node returns a copy of the hash of a perfect subtree.
func (t *tree) node(id compact.NodeID) []byte {
	return append([]byte(nil), t.levels[id.Level].at(id.Index)...)
}

// inclusion returns the RFC 6962 inclusion proof for leaf index in the tree
// of the given size. It requires index < size <= t.size().
func (t *tree) inclusion(index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return t.rehash(nodes)
}

// consistency returns the RFC 6962 consistency proof between two sizes. It
// requires size1 <= size2 <= t.size().
func (t *tree) consistency(size1, size2 uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return t.rehash(nodes)
}

func (t *tree) rehash(nodes proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		hashes[i] = t.node(id)
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}
