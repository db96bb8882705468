//! Ensemble / MC-dropout uncertainty: for S members' distributions of each prediction,
//! total = H(P̄), aleatoric = mean_s H(P_s), epistemic = mean_s KL(P_s ‖ P̄) (BALD's mutual
//! information), in one read of the data. The numerics are in [`crate::kernels::ensemble`].
//!
//! Input: a view of shape (S, batch…, C) — members first, classes last (the binding
//! permutes the user's `sample_axis` and `axis` there without copying). Batch axes that
//! are contiguous with each other are merged, so the kernel sees 3-D pieces (S, n, C).
//!
//! Parallelism: the n predictions of a piece are cut into blocks of a fixed number of
//! rows; each row's result depends only on its own data (lane-wise arithmetic), so the
//! results are bitwise identical for any thread count and any block assignment.

use ndarray::{ArrayD, ArrayView3, ArrayViewD, Axis, Dimension, Ix3, IxDyn};
use rayon::prelude::*;

use super::Options;
use crate::error::Error;
use crate::kernels::ensemble::{cuts_its_rows, uncertainty_group, RowUncertainty, Scratch, GROUP};
use crate::kernels::Real;
use crate::parallel::output::zeroed;
use crate::parallel::{run, Ctx};

/// The three results, each of the batch shape, in the requested unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Uncertainty {
    /// Predictive entropy H(P̄).
    pub total: ArrayD<f64>,
    /// Expected entropy mean_s H(P_s).
    pub aleatoric: ArrayD<f64>,
    /// Mutual information mean_s KL(P_s ‖ P̄) ≥ 0; exactly 0 where all members are equal.
    pub epistemic: ArrayD<f64>,
}

/// Elements a block of rows should hold: ~64k, enough that the per-block cost (scratch
/// buffers, a rayon task) is negligible, few enough for hundreds of blocks per call. (The
/// second pass works on one group of eight rows at a time, so this is not a cache size.)
const BLOCK_ELEMENTS: usize = 65_536;

/// Uncertainty of every prediction of `p` (shape (S, batch…, C)); `from_logits` applies a
/// softmax along C inside the pass. Errors: no member axis / S = 0, negative
/// probabilities, an invalid base, an interrupt.
pub fn ensemble_uncertainty<T: Real>(
    p: ArrayViewD<'_, T>,
    from_logits: bool,
    base: Option<f64>,
) -> Result<Uncertainty, Error> {
    let ln_base = Options {
        normalize: true,
        base,
    }
    .ln_base()?;
    if p.ndim() < 2 {
        return Err(Error::WrongDimensions {
            arg: "p",
            expected: 2,
            got: p.ndim(),
        });
    }
    let shape = p.shape().to_vec();
    let (members, classes) = (shape[0], shape[shape.len() - 1]);
    if members == 0 {
        return Err(Error::EmptyAxis {
            arg: "p",
            axis: "sample_axis",
        });
    }
    let batch = shape[1..shape.len() - 1].to_vec();
    let rows: usize = batch.iter().product();
    // PERF: the three results are written in place by the blocks (buffers advised to be
    // huge pages, `parallel::output`), instead of a 32-byte record per row copied out
    // afterwards: at (8, 10^6, 2) the records alone were 32 MB of fresh pages.
    let mut out = Outputs {
        total: zeroed(rows),
        aleatoric: zeroed(rows),
        epistemic: zeroed(rows),
    };
    let mut lowest = 0.0f64;
    if classes > 0 && rows > 0 {
        let pieces = pieces_3d(p.view())?;
        lowest = run(p.len(), |ctx| {
            let mut offset = 0;
            let mut lowest = 0.0f64;
            for piece in &pieces {
                let n = piece.len_of(Axis(1));
                let part = OutSlices {
                    total: &mut out.total[offset..offset + n],
                    aleatoric: &mut out.aleatoric[offset..offset + n],
                    epistemic: &mut out.epistemic[offset..offset + n],
                };
                lowest = lowest.min(process_piece(piece, part, from_logits, ln_base, ctx));
                offset += n;
            }
            lowest
        })?;
    }
    if lowest < 0.0 {
        return Err(Error::Negative {
            arg: "p",
            value: lowest,
        });
    }
    let field = |values: Vec<f64>| {
        ArrayD::from_shape_vec(IxDyn(&batch), values).map_err(|_| Error::NoAxis { arg: "p" })
    };
    Ok(Uncertainty {
        total: field(out.total)?,
        aleatoric: field(out.aleatoric)?,
        epistemic: field(out.epistemic)?,
    })
}

/// The three result buffers of a call.
struct Outputs {
    total: Vec<f64>,
    aleatoric: Vec<f64>,
    epistemic: Vec<f64>,
}

/// Rows of the three results (of a piece, or of a block).
struct OutSlices<'a> {
    total: &'a mut [f64],
    aleatoric: &'a mut [f64],
    epistemic: &'a mut [f64],
}

/// `p` (S, b1…bk, C) as 3-D pieces (S, n, C) in row-major order of the batch: batch axes
/// whose strides allow it are merged into the last one (no copy), the others iterated.
fn pieces_3d<'a, T>(p: ArrayViewD<'a, T>) -> Result<Vec<ArrayView3<'a, T>>, Error> {
    let mut v = if p.ndim() == 2 {
        p.insert_axis(Axis(1))
    } else {
        p
    };
    let last_batch = v.ndim() - 2;
    for take in (1..last_batch).rev() {
        if !v.merge_axes(Axis(take), Axis(last_batch)) {
            break;
        }
    }
    let outer = v.shape()[1..last_batch].to_vec();
    let mut pieces = Vec::new();
    for index in ndarray::indices(IxDyn(&outer)) {
        let mut w = v.clone();
        for &i in index.slice() {
            w = w.index_axis_move(Axis(1), i);
        }
        pieces.push(
            w.into_dimensionality::<Ix3>()
                .map_err(|_| Error::NoAxis { arg: "p" })?,
        );
    }
    Ok(pieces)
}

/// Where the rows of a piece start in one flat slice, when its memory is contiguous and
/// its rows are (stride 1 along C): (slice, member stride, row stride, start offset).
fn flat<'a, T>(x: &ArrayView3<'a, T>) -> Option<(&'a [T], isize, isize, isize)> {
    let strides = x.strides();
    if x.len_of(Axis(2)) > 1 && strides[2] != 1 {
        return None;
    }
    let slice = x.to_slice_memory_order()?;
    // The slice starts at the lowest address: undo the negative strides.
    let lowest: isize = (0..3)
        .filter(|&a| strides[a] < 0)
        .map(|a| (x.len_of(Axis(a)) as isize - 1) * strides[a])
        .sum();
    Some((slice, strides[0], strides[1], -lowest))
}

/// The longest member chunk (a group's eight rows of one member, in bytes) that
/// [`process_piece`] asks for a group ahead.
const AHEAD_MAX_BYTES: usize = 2048;

fn process_piece<T: Real>(
    x: &ArrayView3<'_, T>,
    out: OutSlices<'_>,
    from_logits: bool,
    ln_base: f64,
    ctx: Ctx<'_>,
) -> f64 {
    let (members, classes) = (x.len_of(Axis(0)), x.len_of(Axis(2)));
    let per_row = (members * classes).max(1);
    let rows_per_block = ((BLOCK_ELEMENTS / per_row).clamp(GROUP, 1024) / GROUP) * GROUP;
    let layout = flat(x);
    // Short member chunks are asked for one group ahead (see below); long ones are
    // streams the hardware prefetcher follows, and would only crowd the L1.
    let chunk_bytes = GROUP * classes * std::mem::size_of::<T>();
    let ask_ahead = chunk_bytes <= AHEAD_MAX_BYTES;
    // the kernel's register path cuts a full group's rows from its blocks only should it
    // need them
    let kernel_cuts_rows = cuts_its_rows::<T>(members, classes, from_logits);
    // Each block returns its smallest input value (min(0, x), NaN ignored): a minimum
    // is exact in any order, so the combined value does not depend on the threads.
    let block = |(b, chunk): (usize, OutSlices<'_>)| -> f64 {
        if ctx.stopped() {
            return 0.0;
        }
        let mut lowest = 0.0f64;
        let mut scratch = Scratch::default();
        let mut buffer: Vec<T> = Vec::new();
        let mut member_rows: Vec<[&[T]; GROUP]> = Vec::with_capacity(members);
        let mut member_blocks: Vec<&[T]> = Vec::with_capacity(members);
        let start = b * rows_per_block;
        let rows_here = chunk.total.len();
        for g in 0..rows_here.div_ceil(GROUP) {
            let first = start + g * GROUP;
            let len = (rows_here - g * GROUP).min(GROUP);
            let row_of = |l: usize| first + l.min(len - 1);
            let mut res = [RowUncertainty::default(); GROUP];
            match layout {
                Some((slice, ss, sn, origin)) => {
                    member_rows.clear();
                    member_blocks.clear();
                    if len == GROUP && sn == classes as isize {
                        // PERF: a full group of adjacent rows is one chunk per member; cutting
                        // it costs far less than locating 8 rows (measured: 25% of a call at
                        // C = 2).
                        if ask_ahead {
                            // the members' chunks are S streams N·C apart, more than the
                            // hardware prefetcher follows: the next group's are asked for
                            // now (a group is microseconds of work), into L2 — the group's
                            // own buffer fills L1 (see `simd::prefetch_l2`; without the
                            // buffer, the float32 register path, L2 still measured best:
                            // `kernels::ensemble` docs, (8)). PERF: the first
                            // loads of each chunk were ~20% of (30, 10^5, 10) float32 in
                            // `perf`. Every line of the (unaligned) chunk: one past its bytes.
                            let next = first as isize + GROUP as isize;
                            for s in 0..members as isize {
                                let at = origin + s * ss + next * sn;
                                let chunk = slice.as_ptr().wrapping_offset(at).cast::<u8>();
                                for byte in (0..chunk_bytes + 64).step_by(64) {
                                    crate::simd::prefetch_l2(chunk.wrapping_add(byte));
                                }
                            }
                        }
                        member_blocks.extend((0..members).map(|s| {
                            let at = (origin + s as isize * ss + first as isize * sn) as usize;
                            &slice[at..at + GROUP * classes]
                        }));
                        if !kernel_cuts_rows {
                            member_rows.extend(member_blocks.iter().map(|chunk| {
                                std::array::from_fn(|l| &chunk[l * classes..(l + 1) * classes])
                            }));
                        }
                    } else {
                        member_rows.extend((0..members).map(|s| {
                            std::array::from_fn(|l| {
                                let at = origin + s as isize * ss + row_of(l) as isize * sn;
                                &slice[at as usize..at as usize + classes]
                            })
                        }));
                    }
                    uncertainty_group(
                        &member_rows,
                        &member_blocks,
                        classes,
                        from_logits,
                        &mut scratch,
                        &mut res,
                    );
                }
                None => {
                    buffer.clear();
                    for s in 0..members {
                        for l in 0..GROUP {
                            buffer.extend(x.index_axis(Axis(0), s).row(row_of(l)).iter());
                        }
                    }
                    let rows: Vec<[&[T]; GROUP]> = (0..members)
                        .map(|s| {
                            std::array::from_fn(|l| {
                                let at = (s * GROUP + l) * classes;
                                &buffer[at..at + classes]
                            })
                        })
                        .collect();
                    let blocks: Vec<&[T]> = buffer.chunks_exact(GROUP * classes.max(1)).collect();
                    uncertainty_group(&rows, &blocks, classes, from_logits, &mut scratch, &mut res);
                }
            }
            for (l, r) in res[..len].iter().enumerate() {
                let i = g * GROUP + l;
                chunk.total[i] = r.total / ln_base;
                chunk.aleatoric[i] = r.aleatoric / ln_base;
                chunk.epistemic[i] = r.epistemic / ln_base;
                if r.min < lowest {
                    lowest = r.min;
                }
            }
        }
        lowest
    };
    let combine = |a: f64, b: f64| a.min(b);
    if ctx.fork {
        out.total
            .par_chunks_mut(rows_per_block)
            .zip(out.aleatoric.par_chunks_mut(rows_per_block))
            .zip(out.epistemic.par_chunks_mut(rows_per_block))
            .enumerate()
            .map(|(b, ((total, aleatoric), epistemic))| {
                block((
                    b,
                    OutSlices {
                        total,
                        aleatoric,
                        epistemic,
                    },
                ))
            })
            .reduce(|| 0.0, combine)
    } else {
        out.total
            .chunks_mut(rows_per_block)
            .zip(out.aleatoric.chunks_mut(rows_per_block))
            .zip(out.epistemic.chunks_mut(rows_per_block))
            .enumerate()
            .map(|(b, ((total, aleatoric), epistemic))| {
                block((
                    b,
                    OutSlices {
                        total,
                        aleatoric,
                        epistemic,
                    },
                ))
            })
            .fold(0.0, combine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::adversarial::{close, positive};
    use crate::kernels::ensemble::reference;
    use ndarray::{Array, Array3, ArrayD};

    fn uncertainty(p: ArrayViewD<'_, f64>) -> Uncertainty {
        ensemble_uncertainty(p, false, None).unwrap()
    }

    #[test]
    fn layouts_give_the_same_results_as_the_reference() {
        // (S, N1, N2, C) contiguous, permuted, sliced and reversed views.
        let (s, n1, n2, c) = (4, 5, 6, 7);
        let data: Vec<f64> = positive(s * n1 * n2 * c, 3)
            .iter()
            .map(|v| v + 0.01)
            .collect();
        let a = Array::from_shape_vec((s, n1, n2, c), data)
            .unwrap()
            .into_dyn();
        let want: Vec<RowUncertainty> = (0..n1 * n2)
            .map(|i| {
                let rows: Vec<Vec<f64>> = (0..s)
                    .map(|m| (0..c).map(|k| a[[m, i / n2, i % n2, k]]).collect())
                    .collect();
                let refs: Vec<&[f64]> = rows.iter().map(|r| &r[..]).collect();
                reference(&refs, c, false)
            })
            .collect();
        let check = |u: &Uncertainty, order: &dyn Fn(usize) -> usize| {
            for (i, w) in want.iter().enumerate() {
                let j = order(i);
                let got = (
                    u.total.as_slice_memory_order().unwrap()[j],
                    u.aleatoric.as_slice_memory_order().unwrap()[j],
                    u.epistemic.as_slice_memory_order().unwrap()[j],
                );
                assert!(close(got.0, w.total, 1e-13) && close(got.1, w.aleatoric, 1e-13));
                assert!(close(got.2, w.epistemic, 1e-11), "{got:?} vs {w:?}");
            }
        };
        check(&uncertainty(a.view()), &|i| i);
        // Transposed batch axes: (S, N2, N1, C) view of the same memory.
        let mut t = a.view();
        t.swap_axes(1, 2);
        check(&uncertainty(t), &|i| (i % n2) * n1 + i / n2);
        // A copy in Fortran order, viewed back as (S, N1, N2, C).
        let f = ArrayD::from_shape_vec(IxDyn(&[c, n2, n1, s]), {
            let mut v = Vec::new();
            for k in 0..c {
                for j in 0..n2 {
                    for i in 0..n1 {
                        for m in 0..s {
                            v.push(a[[m, i, j, k]]);
                        }
                    }
                }
            }
            v
        })
        .unwrap();
        let fv = f.view().reversed_axes();
        check(&uncertainty(fv), &|i| i);
        // Reversed classes and members.
        let mut r = a.clone();
        r.invert_axis(Axis(3));
        r.invert_axis(Axis(0));
        let mut rv = r.view();
        rv.invert_axis(Axis(3));
        rv.invert_axis(Axis(0));
        check(&uncertainty(rv), &|i| i);
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (s, n, c) = (6, 20_011, 5);
        let data = positive(s * n * c, 9);
        let a = Array3::from_shape_vec((s, n, c), data).unwrap().into_dyn();
        let mut seen = Vec::new();
        for threads in [1, 2, 5] {
            crate::parallel::set_num_threads(threads).unwrap();
            seen.push(uncertainty(a.view()));
        }
        for u in &seen[1..] {
            for (x, y) in [
                (&u.total, &seen[0].total),
                (&u.epistemic, &seen[0].epistemic),
            ] {
                assert!(x
                    .iter()
                    .zip(y.iter())
                    .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())));
            }
        }
    }

    #[test]
    fn edge_cases() {
        let empty_classes = ArrayD::<f64>::zeros(IxDyn(&[3, 4, 0]));
        let u = uncertainty(empty_classes.view());
        assert_eq!(u.total.shape(), &[4]);
        assert!(u.total.iter().chain(u.epistemic.iter()).all(|&v| v == 0.0));
        let no_members = ArrayD::<f64>::zeros(IxDyn(&[0, 4, 2]));
        assert_eq!(
            ensemble_uncertainty(no_members.view(), false, None).unwrap_err(),
            Error::EmptyAxis {
                arg: "p",
                axis: "sample_axis"
            }
        );
        let neg = ndarray::arr2(&[[0.5, -0.25], [0.5, 0.5]]).into_dyn();
        assert_eq!(
            ensemble_uncertainty(neg.view(), false, None).unwrap_err(),
            Error::Negative {
                arg: "p",
                value: -0.25
            }
        );
        let two = ndarray::arr2(&[[1.0, 0.0], [0.0, 1.0]]).into_dyn();
        let u = ensemble_uncertainty(two.view(), false, Some(2.0)).unwrap();
        assert_eq!(u.total[[]], 1.0);
        assert_eq!(u.aleatoric[[]], 0.0);
        assert!(close(u.epistemic[[]], 1.0, 1e-15));
    }
}
