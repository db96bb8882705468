//! Result buffers: one value per row, written by the kernels' threads.
//!
//! A large result is fresh memory, and every first write to a 4 KiB page of it is a
//! page fault (the kernel zeroes the page while the writing thread waits, and both
//! threads contend for the process's page-table lock). For short rows that is a third of
//! the time: the (5·10^6, 2) entropy writes 40 MB, 10 000 faults. NumPy advises huge
//! pages for its own allocations of ≥ 4 MiB; the buffers here do the same, so one fault
//! maps 2 MiB.

/// What happens to each chunk of finished row values, on the thread that computed them
/// while they are in cache: a unit change or e^H. (As a separate pass over the result
/// after the rows — single-threaded for the unit, a second read of every value from
/// memory — (5·10^6, 2) float32 entropy in bits took 1.2–1.5× the nats call, perplexity
/// 1.6–2×.) Value by value, so a row's result does not depend on the chunking.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Finish {
    /// The values as computed.
    Keep,
    /// Each value divided by this (ln b: nats to base b).
    DivideBy(f64),
    /// e^value (a perplexity from an entropy in nats), by the vector exponential that the
    /// one-value forms use too ([`crate::simd::exp::exp_in_place`]).
    Exp,
    /// √(value / d), +0 where the quotient is ±0 (the Jensen–Shannon distance in base e^d;
    /// `crate::measures::js::distance` is this with d = 1).
    SqrtOfQuotient(f64),
}

impl Finish {
    /// Nats to the unit whose logarithm base has natural logarithm `ln_base` (1: nats).
    pub fn unit(ln_base: f64) -> Finish {
        if ln_base == 1.0 {
            Finish::Keep
        } else {
            Finish::DivideBy(ln_base)
        }
    }

    /// One value mapped (the same operations as in a chunk: the same bits).
    pub fn one(self, x: f64) -> f64 {
        let mut v = [x];
        self.apply(&mut v);
        v[0]
    }

    /// Maps `values` in place.
    pub fn apply(self, values: &mut [f64]) {
        match self {
            Finish::Keep => {}
            Finish::DivideBy(d) => values.iter_mut().for_each(|v| *v /= d),
            Finish::Exp => crate::simd::exp::exp_in_place(values),
            Finish::SqrtOfQuotient(d) => values.iter_mut().for_each(|v| {
                let x = *v / d;
                *v = if x == 0.0 { 0.0 } else { x.sqrt() };
            }),
        }
    }
}

/// NumPy's threshold for advising huge pages (`npy_alloc_cache`, 4 MiB).
const HUGE_PAGE_ADVICE_BYTES: usize = 1 << 22;

/// A zeroed vector of `n` values whose pages are mapped on first write, advised to be
/// huge pages when it is large (Linux; elsewhere a plain zeroed vector).
pub fn zeroed(n: usize) -> Vec<f64> {
    // calloc: a large request is fresh zero pages from mmap, not touched here
    let v = vec![0.0f64; n];
    advise_huge_pages(&v);
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(v: &[f64]) {
    const HUGE: usize = 1 << 21;
    let bytes = std::mem::size_of_val(v);
    if bytes < HUGE_PAGE_ADVICE_BYTES {
        return;
    }
    let start = (v.as_ptr() as usize).next_multiple_of(HUGE);
    let end = (v.as_ptr() as usize + bytes) / HUGE * HUGE;
    if end > start {
        // SAFETY: [start, end) lies inside `v`'s allocation, which this function borrows;
        // MADV_HUGEPAGE changes neither the contents nor the validity of the mapping,
        // only how later faults are served, and its failure (an old kernel, THP off) is
        // harmless, so the result is ignored.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_: &[f64]) {}

#[cfg(test)]
mod tests {
    #[test]
    fn finishing_in_chunks_equals_finishing_at_once() {
        let values: Vec<f64> = (0..1000).map(|i| (i as f64 - 300.0) * 0.0137).collect();
        for finish in [
            super::Finish::Keep,
            super::Finish::DivideBy(2f64.ln()),
            super::Finish::Exp,
            super::Finish::SqrtOfQuotient(2f64.ln()),
        ] {
            let mut whole = values.clone();
            finish.apply(&mut whole);
            let mut chunked = values.clone();
            for c in chunked.chunks_mut(13) {
                finish.apply(c);
            }
            for ((w, c), v) in whole.iter().zip(&chunked).zip(&values) {
                assert_eq!(w.to_bits(), c.to_bits(), "{finish:?} of {v}");
            }
        }
    }

    #[test]
    fn zeroed_buffers_are_zero_at_every_size() {
        for n in [0, 1, 1000, (1 << 19) + 3, 3 << 20] {
            let v = super::zeroed(n);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 0.0));
        }
    }
}
