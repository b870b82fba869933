//! The referee's commitments: perfect binary Merkle trees over 32-byte
//! leaf hashes, padded with [`EMPTY`] to a power of two, so that a
//! bisection can descend two parties' trees side by side, level by level,
//! and a proof is exactly `depth` siblings.
//!
//! A tensor is committed element by element (each element's
//! little-endian bytes in its dtype's width, hashed as a leaf); a trace is
//! the tree over its nodes' output tensors' roots; the weights the tree
//! over the weight tensors' roots; the graph the tree over its node
//! records ([`super::record`]).
use super::tensor::{IntTensor, IntType};
use alloc::{vec, vec::Vec};

/// A padding leaf, and the root of a tree of no leaves.
pub const EMPTY: [u8; 32] = [0; 32];

/// A leaf: `SHA-256(0x00 ‖ bytes)`.
pub fn leaf(bytes: &[u8]) -> [u8; 32] {
    solana_sha256_hasher::hashv(&[&[0], bytes]).to_bytes()
}

/// An inner node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn parent(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    solana_sha256_hasher::hashv(&[&[1], left, right]).to_bytes()
}

/// The depth of the tree over `count` leaves: `⌈log2 count⌉` (0 for one
/// leaf or none).
pub fn depth(count: u64) -> u32 {
    if count <= 1 {
        0
    } else {
        u64::BITS - (count - 1).leading_zeros()
    }
}

/// Whether `leaf` sits at `index` of the tree of `root`, whose depth is
/// `siblings.len()`: the siblings from the leaf's level up.
pub fn verify(leaf: [u8; 32], index: u64, siblings: &[[u8; 32]], root: &[u8; 32]) -> bool {
    if siblings.len() < 64 && index >> siblings.len() != 0 {
        return false;
    }
    root_from(leaf, index, siblings) == *root
}

/// The root [`verify`] checks against: `leaf` folded up its siblings.
pub fn root_from(leaf: [u8; 32], index: u64, siblings: &[[u8; 32]]) -> [u8; 32] {
    siblings
        .iter()
        .enumerate()
        .fold(leaf, |node, (level, sibling)| {
            if (index >> level) & 1 == 0 {
                parent(&node, sibling)
            } else {
                parent(sibling, &node)
            }
        })
}

/// The root of the tree over `leaves`, computed in place in one
/// allocation of the padded width (the program's heap never frees).
pub fn root(leaves: impl ExactSizeIterator<Item = [u8; 32]>) -> [u8; 32] {
    let width = 1usize << depth(leaves.len() as u64);
    let mut nodes = Vec::with_capacity(width);
    nodes.extend(leaves);
    nodes.resize(width, EMPTY);
    let mut len = width;
    while len > 1 {
        for i in 0..len / 2 {
            nodes[i] = parent(&nodes[2 * i], &nodes[2 * i + 1]);
        }
        len /= 2;
    }
    nodes.first().copied().unwrap_or(EMPTY)
}

/// The tree root over a canonical output encoding's tensors, each its
/// elements' root: what the program computes from a committed result of a
/// referee model, whose outputs are whole and integer. `None` for bytes
/// that are not such an encoding.
pub fn output_root(output: &[u8]) -> Option<[u8; 32]> {
    let tensors = crate::encoding::decode(output).ok()?;
    let roots = tensors
        .iter()
        .map(|tensor| {
            let dtype = IntType::of(tensor.dtype)?;
            let width = dtype.width();
            Some(root(tensor.data.chunks_exact(width).map(leaf)))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(root(roots.into_iter()))
}

/// The little-endian bytes of `value` in `dtype`'s width.
pub fn element_bytes(dtype: IntType, value: i64) -> Vec<u8> {
    match dtype {
        IntType::U8 => vec![value as u8],
        IntType::I8 => vec![value as i8 as u8],
        IntType::I32 => (value as i32).to_le_bytes().to_vec(),
        IntType::I64 => value.to_le_bytes().to_vec(),
    }
}

/// The leaf of one element.
pub fn element_leaf(dtype: IntType, value: i64) -> [u8; 32] {
    leaf(&element_bytes(dtype, value))
}

/// A whole tree, level by level from the root (level 0) to the padded
/// leaves (level `depth`): what a party of the game answers moves from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    levels: Vec<Vec<[u8; 32]>>,
}

impl Tree {
    /// The tree over `leaves`, padded with [`EMPTY`].
    pub fn new(mut leaves: Vec<[u8; 32]>) -> Tree {
        let depth = depth(leaves.len() as u64);
        leaves.resize(1usize << depth, EMPTY);
        let mut levels = vec![leaves];
        while let Some(below) = levels.last().filter(|level| level.len() > 1) {
            let above = below
                .chunks_exact(2)
                .map(|pair| parent(&pair[0], &pair[1]))
                .collect();
            levels.push(above);
        }
        levels.reverse();
        Tree { levels }
    }

    /// The tree over a tensor's elements.
    pub fn of_tensor(tensor: &IntTensor) -> Tree {
        Tree::new(
            tensor
                .data
                .iter()
                .map(|&value| element_leaf(tensor.dtype, value))
                .collect(),
        )
    }

    pub fn root(&self) -> [u8; 32] {
        self.levels
            .first()
            .and_then(|level| level.first())
            .copied()
            .unwrap_or(EMPTY)
    }

    pub fn depth(&self) -> u32 {
        self.levels.len().saturating_sub(1) as u32
    }

    /// The node at `index` of `level` (0 is the root), [`EMPTY`] past the
    /// tree.
    pub fn node(&self, level: u32, index: u64) -> [u8; 32] {
        self.levels
            .get(level as usize)
            .and_then(|nodes| nodes.get(index as usize))
            .copied()
            .unwrap_or(EMPTY)
    }

    /// The two children of the node at `index` of `level`.
    pub fn children(&self, level: u32, index: u64) -> [[u8; 32]; 2] {
        [
            self.node(level + 1, index * 2),
            self.node(level + 1, index * 2 + 1),
        ]
    }

    /// The siblings of leaf `index`, from the leaves up ([`verify`]).
    pub fn proof(&self, index: u64) -> Vec<[u8; 32]> {
        let depth = self.depth();
        (0..depth)
            .map(|up| {
                let level = depth - up;
                self.node(level, (index >> up) ^ 1)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_verify_at_their_index_only_and_padding_is_empty() {
        for count in [0u64, 1, 2, 3, 5, 8, 9] {
            let leaves: Vec<[u8; 32]> = (0..count).map(|i| leaf(&i.to_le_bytes())).collect();
            let tree = Tree::new(leaves.clone());
            assert_eq!(tree.depth(), depth(count));
            for (index, leaf) in leaves.iter().enumerate() {
                let proof = tree.proof(index as u64);
                assert!(verify(*leaf, index as u64, &proof, &tree.root()));
                assert!(!verify(*leaf, index as u64 ^ 1, &proof, &tree.root()) || count == 1);
                assert!(!verify(
                    *leaf,
                    index as u64 + (1 << proof.len()),
                    &proof,
                    &tree.root()
                ));
            }
            let padded = 1u64 << depth(count);
            for index in count..padded {
                assert!(verify(EMPTY, index, &tree.proof(index), &tree.root()));
            }
            // Descending from the root reaches every leaf.
            if count > 0 {
                let [left, right] = tree.children(0, 0);
                if tree.depth() > 0 {
                    assert_eq!(parent(&left, &right), tree.root());
                }
            }
        }
        assert_eq!(Tree::new(vec![]).root(), EMPTY);
        for count in [0usize, 1, 3, 4, 7] {
            let leaves: Vec<[u8; 32]> = (0..count).map(|i| leaf(&[i as u8])).collect();
            assert_eq!(root(leaves.clone().into_iter()), Tree::new(leaves).root());
        }
        assert_eq!(depth(1 << 20), 20);
        assert_eq!(depth((1 << 20) + 1), 21);
    }

    #[test]
    fn an_element_is_committed_in_its_dtypes_width() {
        assert_eq!(element_bytes(IntType::I32, -1), vec![255; 4]);
        assert_eq!(element_bytes(IntType::U8, 200), vec![200]);
        assert_ne!(
            element_leaf(IntType::I8, -1),
            element_leaf(IntType::I32, -1)
        );
    }
}
