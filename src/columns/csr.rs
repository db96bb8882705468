//! Two CSR matrices (scipy.sparse) with different sparsity patterns, aligned on the union
//! of their patterns so that row `r` of both holds the same columns in the same order —
//! what a pair measure reads in step. An entry stored in one matrix only is paired with
//! a 0 of the other (the value it has in the dense matrix). O(nnz) time and memory.

use crate::error::Error;
use crate::parallel::rows::Offsets;

use super::{ListView, Values};

/// A CSR matrix, borrowed: row `r` holds `data[indptr[r]..indptr[r+1]]` at the columns
/// `indices[indptr[r]..indptr[r+1]]`, sorted and unique (scipy's canonical format).
#[derive(Clone, Copy, Debug)]
pub struct Csr<'a, T> {
    /// The stored values.
    pub data: &'a [T],
    /// Their column indices.
    pub indices: &'a [i64],
    /// Row boundaries (rows + 1 entries).
    pub indptr: &'a [i64],
}

impl<T> Csr<'_, T> {
    fn check(&self) -> Result<(), Error> {
        if self.indices.len() != self.data.len() {
            return Err(Error::InvalidOffsets {
                position: 0,
                value: self.indices.len() as i64,
                values: self.data.len(),
            });
        }
        ListView::ragged(Values::F64(&[]), Offsets::I64(self.indptr))?;
        let mut previous = 0i64;
        for (i, &v) in self.indptr.iter().enumerate() {
            if v < previous || v as u64 > self.data.len() as u64 {
                return Err(Error::InvalidOffsets {
                    position: i,
                    value: v,
                    values: self.data.len(),
                });
            }
            previous = v;
        }
        Ok(())
    }
}

/// `(p values, q values, row boundaries)` of two aligned matrices.
pub type Aligned<T, U> = (Vec<T>, Vec<U>, Vec<i64>);

/// `p` and `q` on the union of their patterns: `(p values, q values, row boundaries)`.
/// Within a row the columns are merged in increasing order (both inputs sorted).
pub fn align<T: Copy + Default, U: Copy + Default>(
    p: Csr<'_, T>,
    q: Csr<'_, U>,
) -> Result<Aligned<T, U>, Error> {
    p.check()?;
    q.check()?;
    if p.indptr.len() != q.indptr.len() {
        return Err(Error::RowCount {
            first: "p",
            second: "q",
            first_rows: p.indptr.len().saturating_sub(1),
            second_rows: q.indptr.len().saturating_sub(1),
        });
    }
    let rows = p.indptr.len() - 1;
    let capacity = p.data.len().max(q.data.len());
    let (mut pv, mut qv) = (Vec::with_capacity(capacity), Vec::with_capacity(capacity));
    let mut indptr = Vec::with_capacity(rows + 1);
    indptr.push(0i64);
    for r in 0..rows {
        let (mut i, pe) = (p.indptr[r] as usize, p.indptr[r + 1] as usize);
        let (mut j, qe) = (q.indptr[r] as usize, q.indptr[r + 1] as usize);
        while i < pe || j < qe {
            let ci = if i < pe { p.indices[i] } else { i64::MAX };
            let cj = if j < qe { q.indices[j] } else { i64::MAX };
            if ci == cj {
                pv.push(p.data[i]);
                qv.push(q.data[j]);
                i += 1;
                j += 1;
            } else if ci < cj {
                pv.push(p.data[i]);
                qv.push(U::default());
                i += 1;
            } else {
                pv.push(T::default());
                qv.push(q.data[j]);
                j += 1;
            }
        }
        indptr.push(pv.len() as i64);
    }
    Ok((pv, qv, indptr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_of_patterns() {
        // p: row 0 cols {0, 2}, row 1 {}, row 2 {1}
        // q: row 0 cols {2, 3}, row 1 {0}, row 2 {1}
        let p = Csr {
            data: &[1.0f64, 2.0, 3.0],
            indices: &[0, 2, 1],
            indptr: &[0, 2, 2, 3],
        };
        let q = Csr {
            data: &[4.0f32, 5.0, 6.0, 7.0],
            indices: &[2, 3, 0, 1],
            indptr: &[0, 2, 3, 4],
        };
        let (pv, qv, indptr) = align(p, q).unwrap();
        assert_eq!(pv, vec![1.0, 2.0, 0.0, 0.0, 3.0]);
        assert_eq!(qv, vec![0.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(indptr, vec![0, 3, 4, 5]);
        let short = Csr {
            indptr: &[0, 2, 3],
            data: &[1.0f64, 2.0, 3.0],
            indices: &[0, 2, 1],
        };
        assert!(matches!(align(short, q), Err(Error::RowCount { .. })));
        let bad = Csr {
            indptr: &[0, 5],
            ..short
        };
        assert!(align(bad, bad).is_err());
    }
}
