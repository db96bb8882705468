//! Where rows of one length lie in memory: the two layouts whose groups of rows need no
//! index arithmetic. The row engine finds them (`parallel::rows`) and the kernels that
//! read groups of rows straight from memory take them (`f32_tiles`, `plogq`'s one-element
//! rows).

use super::Real;

/// Rows of one length in one of two layouts.
#[derive(Clone, Copy, Debug)]
pub enum Block<'a, T> {
    /// Rows back to back: row r at `[r·len..(r + 1)·len]` (a C-ordered (N, len) array).
    Rows(&'a [T]),
    /// Each element of the rows in its own run: element c of row r at
    /// `values[c·stride + r]` (the C-ordered (len, N) array read along axis 0).
    Columns { values: &'a [T], stride: usize },
}

impl<'a, T: Real> Block<'a, T> {
    /// The block as float32 rows, where they are float32.
    pub fn as_f32(self) -> Option<Block<'a, f32>> {
        Some(match self {
            Block::Rows(x) => Block::Rows(T::as_f32(x)?),
            Block::Columns { values, stride } => Block::Columns {
                values: T::as_f32(values)?,
                stride,
            },
        })
    }
}

impl<'a, T> Block<'a, T> {
    /// The memory the block reads (rows of one element: row r's at `[r]` in both layouts).
    pub fn values(self) -> &'a [T] {
        match self {
            Block::Rows(x) | Block::Columns { values: x, .. } => x,
        }
    }

    /// The block from row `r` on (rows of `len` elements).
    pub fn skip_rows(self, r: usize, len: usize) -> Self {
        match self {
            Block::Rows(x) => Block::Rows(&x[r * len..]),
            Block::Columns { values, stride } => Block::Columns {
                values: &values[r..],
                stride,
            },
        }
    }
}
