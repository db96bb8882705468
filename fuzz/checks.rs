// Property checks over arbitrary bytes, shared (by `include!`) by the `cargo fuzz` target
// `fuzz/fuzz_targets/kernels.rs` (nightly) and the deterministic harness
// `pseudo_random.rs`, which plain `cargo test` runs on pseudo-random inputs (a test module
// of the library).
// Every check panics on failure, which is what a fuzzer reports.
//
// Input layout: byte 0 picks the mode, the rest is data. Raw mode reads f64 bit patterns
// (NaN payloads, ±inf, subnormals, negatives): nothing may panic, negatives are reported
// exactly, and identical inputs give JS = KL = 0. Value mode maps each byte to a value
// from a table of well-behaved non-negative numbers (zeros included), where the vector
// kernels must agree with their scalar references and the measures with each other.

use fastentropy::kernels::counts::{sum_min, sum_min_reference, xlog_ratio_reference, xlog_ratio_sums};
use fastentropy::kernels::two_pass::sums;
use fastentropy::kernels::{js, kl, plogq};
use fastentropy::measures::label_entropy::label_entropy;
use fastentropy::measures::label_keys::{Decode, LaneKeys};
use fastentropy::measures::mutual_information::{from_labels, from_table, Average, Measure};

const VALUES: [f64; 16] = [
    0.0, 0.0, 1.0, 2.0, 3.0, 0.5, 0.25, 1e-3, 7.0, 1e3, 0.1, 5e-324, 1e-300, 1e300, 42.0, 0.9,
];

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol
}

/// Runs every check on `data` (panics on a violated property).
pub fn check_bytes(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        raw(rest);
    } else {
        values(rest);
        labels(rest);
    }
}

fn raw(rest: &[u8]) {
    let x: Vec<f64> = rest
        .chunks_exact(8)
        .map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8"))))
        .collect();
    let (p, q) = x.split_at(x.len() / 2);
    let q = &q[..p.len()];
    let s = sums(p, q);
    let lowest = |v: &[f64]| v.iter().fold(0.0f64, |m, &a| if a < m { a } else { m });
    assert_eq!(s.min.p, lowest(p));
    assert_eq!(s.min.q, lowest(q));
    for normalize in [true, false] {
        let (_, m) = js::row(p, q, normalize);
        assert_eq!((m.p, m.q), (s.min.p, s.min.q));
        let _ = kl::row(p, q, normalize);
    }
    let _ = plogq::row(p, q);
    let _ = xlog_ratio_sums(p, q, 3.0);
    let m = sum_min(p);
    assert_eq!(m.min, lowest(p));
    // identical non-negative inputs: exactly 0 (or NaN where the input holds NaN/inf)
    if s.min.p >= 0.0 && s.sp.is_finite() && s.sp > 0.0 && p.iter().all(|v| v.is_finite()) {
        assert_eq!(js::row(p, p, true).0, 0.0, "js(p, p) for {p:?}");
        assert_eq!(kl::row(p, p, true).0, 0.0, "kl(p, p) for {p:?}");
        assert_eq!(plogq::row(p, p).0.to_bits(), plogq::row(p, p).0.to_bits());
    }
}

fn values(rest: &[u8]) {
    let x: Vec<f64> = rest
        .iter()
        .map(|&b| VALUES[(b & 15) as usize] * (1.0 + (b >> 4) as f64))
        .collect();
    let (p, q) = x.split_at(x.len() / 2);
    let q = &q[..p.len()];
    let s = sums(p, q);
    let r = sum_min_reference(p);
    assert!(close(sum_min(p).sum, r.sum, 1e-12 * r.sum.abs()));
    for normalize in [false, true] {
        let (sp, sq) = if normalize { (s.sp, s.sq) } else { (1.0, 1.0) };
        if !(sp > 0.0 && sq > 0.0) {
            continue;
        }
        let (got, want) = (js::row(p, q, normalize).0, js::reference(p, q, normalize));
        let scale: f64 = p
            .iter()
            .zip(q)
            .map(|(a, b)| a / sp + b / sq)
            .filter(|v| v.is_finite())
            .sum::<f64>()
            .max(1e-300);
        // (the plain reference overflows where P + Q does; the kernel scales instead)
        if want.is_finite() {
            assert!(close(got, want, 1e-12 * scale), "{got:?} vs {want:?} for {p:?} {q:?} {normalize}");
        }
        // JS of the normalised distributions lies in [0, ln 2]; KL and H are ≥ 0
        if normalize && sp.is_finite() && sq.is_finite() {
            assert!((0.0..=std::f64::consts::LN_2 * (1.0 + 1e-15)).contains(&got), "{got}");
            assert!(kl::row(p, q, true).0 >= 0.0);
            let h = plogq::row(p, p).0;
            assert!(h >= 0.0 && h <= (p.len() as f64).ln() * (1.0 + 1e-14), "{h}");
            assert!(plogq::row(p, q).0 >= 0.0);
        }
    }
    // column sums ≥ cells, as in a contingency table
    let d: Vec<f64> = p.iter().zip(q).map(|(a, b)| a + b).collect();
    let (got, want) = (
        xlog_ratio_sums(p, &d, 2.0),
        xlog_ratio_reference(p, &d, 2.0),
    );
    let scale: f64 = p
        .iter()
        .map(|a| a * (1.0 + a.abs().ln().abs()))
        .filter(|v| v.is_finite())
        .sum::<f64>()
        .max(1e-300);
    if got.sum_terms.is_finite() || want.sum_terms.is_finite() {
        assert!(
            close(got.sum_terms, want.sum_terms, 1e-12 * scale),
            "{got:?} vs {want:?}"
        );
    }
}

fn labels(rest: &[u8]) {
    if rest.is_empty() {
        return; // no samples: 0.0 from labels, NaN from an all-zero table (documented)
    }
    let x: Vec<i64> = rest.iter().map(|&b| (b % 7) as i64 - 2).collect();
    let y: Vec<i64> = rest.iter().map(|&b| (b / 37) as i64).collect();
    // the same labels spread over the i64 range: coded by rank (sorting)
    let xs: Vec<i64> = x
        .iter()
        .map(|&v| v.wrapping_mul(1 << 60) ^ 0x5555)
        .collect();
    let ys: Vec<i64> = y.iter().map(|&v| v.wrapping_mul(-(1 << 58)) - 1).collect();
    let lane = |v: &[i64]| ndarray::Array1::from(v.to_vec());
    let (xa, ya, xsa, ysa) = (lane(&x), lane(&y), lane(&xs), lane(&ys));
    fn keys(a: &ndarray::Array1<i64>) -> LaneKeys<'_, i64> {
        LaneKeys::new(a.view(), Decode::Native)
    }
    let h = label_entropy(xa.view().into_dyn(), Decode::Native, None, true).expect("valid")[[]];
    assert_eq!(
        h.to_bits(),
        label_entropy(xsa.view().into_dyn(), Decode::Native, None, true).expect("valid")[[]]
            .to_bits()
    );
    let mut table = ndarray::Array2::<f64>::zeros((7, 7));
    for (&a, &b) in x.iter().zip(&y) {
        table[[(a + 2) as usize, b as usize]] += 1.0;
    }
    let measures = [
        Measure::Joint,
        Measure::Conditional,
        Measure::Mutual,
        Measure::Normalized(Average::Min),
    ];
    let mut got = [0.0; 4];
    for (k, m) in measures.into_iter().enumerate() {
        let t = from_table(table.view(), m, None).expect("valid");
        let dense = from_labels(&keys(&xa), &keys(&ya), m, None).expect("valid");
        let sparse = from_labels(&keys(&xsa), &keys(&ysa), m, None).expect("valid");
        assert!(
            close(t, dense, 1e-13) && close(t, sparse, 1e-13),
            "{m:?}: {t} {dense} {sparse}"
        );
        assert!(t >= 0.0, "{m:?} = {t}");
        got[k] = t;
    }
    let [joint, cond, mi, nmi] = got;
    assert!(cond <= joint + 1e-12 && mi <= joint + 1e-12, "{got:?}");
    assert!(nmi <= 1.0 + 1e-12, "{got:?}");
}

