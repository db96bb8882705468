//! Criterion benches of the slice kernels against their scalar references and a plain sum
//! (the read-once baseline). Run: `cargo bench --bench kernels`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use fastentropy::kernels::{js, kl, plogq, xlogx};

fn data(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

fn kernels(c: &mut Criterion) {
    let n = 8192;
    let p = data(n, 1);
    let q = data(n, 2);
    let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
    let mut g = c.benchmark_group("block_8192");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("sum (read once)", |b| {
        b.iter(|| black_box(&p).iter().sum::<f64>())
    });
    g.bench_function("xlogx f64", |b| {
        b.iter(|| xlogx::xlogx_sums(black_box(&p[..])))
    });
    g.bench_function("xlogx f32", |b| {
        b.iter(|| xlogx::xlogx_sums(black_box(&p32[..])))
    });
    g.bench_function("xlogx scalar reference", |b| {
        b.iter(|| xlogx::reference(black_box(&p[..])))
    });
    g.bench_function("cross-entropy row f64 (two-pass exact)", |b| {
        b.iter(|| plogq::row(black_box(&p[..]), black_box(&q[..])))
    });
    g.bench_function("cross-entropy scalar reference", |b| {
        b.iter(|| plogq::reference(black_box(&p[..]), black_box(&q[..])))
    });
    g.bench_function("kl row f64", |b| {
        b.iter(|| kl::row(black_box(&p[..]), black_box(&q[..]), true))
    });
    g.bench_function("kl scalar reference", |b| {
        b.iter(|| kl::reference(black_box(&p[..]), black_box(&q[..])))
    });
    g.bench_function("js row f64", |b| {
        b.iter(|| js::row(black_box(&p[..]), black_box(&q[..]), true))
    });
    let q32: Vec<f32> = q.iter().map(|&v| v as f32).collect();
    g.bench_function("entropy one-pass f64", |b| {
        b.iter(|| plogq::one_pass(black_box(&p[..]), black_box(&p[..])))
    });
    g.bench_function("entropy one-pass f32", |b| {
        b.iter(|| plogq::one_pass(black_box(&p32[..]), black_box(&p32[..])))
    });
    g.bench_function("cross-entropy one-pass f64", |b| {
        b.iter(|| plogq::one_pass(black_box(&p[..]), black_box(&q[..])))
    });
    g.bench_function("cross-entropy one-pass f32", |b| {
        b.iter(|| plogq::one_pass(black_box(&p32[..]), black_box(&q32[..])))
    });
    g.bench_function("kl row f32", |b| {
        b.iter(|| kl::row(black_box(&p32[..]), black_box(&q32[..]), true))
    });
    g.bench_function("js row f32", |b| {
        b.iter(|| js::row(black_box(&p32[..]), black_box(&q32[..]), true))
    });
    g.finish();
}

/// The same kernels on a 10^7-element input (80 MB: streamed from memory, not cache).
fn streamed(c: &mut Criterion) {
    let n = 10_000_000;
    let p = data(n, 1);
    let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
    let mut g = c.benchmark_group("streamed_1e7");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("sum f64 (8 lanes)", |b| {
        b.iter(|| {
            let mut acc = [0.0f64; 8];
            for c in black_box(&p[..]).chunks_exact(8) {
                for k in 0..8 {
                    acc[k] += c[k];
                }
            }
            acc.iter().sum::<f64>()
        })
    });
    g.bench_function("xlogx f64", |b| {
        b.iter(|| xlogx::xlogx_sums(black_box(&p[..])))
    });
    g.bench_function("entropy one-pass f64", |b| {
        b.iter(|| plogq::one_pass(black_box(&p[..]), black_box(&p[..])))
    });
    g.bench_function("entropy one-pass f32", |b| {
        b.iter(|| plogq::one_pass(black_box(&p32[..]), black_box(&p32[..])))
    });
    g.finish();
}

/// Where the streamed slowdown starts: xlogx over growing inputs.
fn sizes(c: &mut Criterion) {
    let mut g = c.benchmark_group("sizes");
    g.sample_size(10);
    for n in [8192usize, 65536, 262144, 1 << 20, 4 << 20] {
        let p = data(n, 1);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("xlogx {n}"), |b| {
            b.iter(|| xlogx::xlogx_sums(black_box(&p[..])))
        });
    }
    g.finish();
}

criterion_group!(benches, kernels, streamed, sizes);
criterion_main!(benches);
