//! Result buffers: one value per row, written by the kernels' threads.
//!
//! A large result is fresh memory, and every first write to a 4 KiB page of it is a
//! page fault (the kernel zeroes the page while the writing thread waits, and both
//! threads contend for the process's page-table lock). For short rows that is a third of
//! the time: the (5·10^6, 2) entropy writes 40 MB, 10 000 faults. NumPy advises huge
//! pages for its own allocations of ≥ 4 MiB; the buffers here do the same, so one fault
//! maps 2 MiB.

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
    fn zeroed_buffers_are_zero_at_every_size() {
        for n in [0, 1, 1000, (1 << 19) + 3, 3 << 20] {
            let v = super::zeroed(n);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 0.0));
        }
    }
}
