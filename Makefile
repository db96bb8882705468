# Self-describing targets; CI (.ci/run) calls `make test`, the README's test command.
.PHONY: build test test-python test-rust lint bench

build:  ## build and install the extension (release) into the active Python
	pip install .

test: test-rust test-python  ## the full test suite: cargo test on every SIMD path, then pytest

test-python:
	python -m pytest -n 2

test-rust:  ## Rust kernels against their scalar references, once per instruction set (optimised, no LTO: Cargo.toml's ci-test profile)
	cargo test --profile ci-test
	FASTENTROPY_SIMD=avx2 cargo test --profile ci-test
	FASTENTROPY_SIMD=baseline cargo test --profile ci-test

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings

bench:  ## ratio tables vs numpy / scipy / torch (benches/bench.py) and criterion kernel benches
	python benches/bench.py
	python benches/scorers.py
	cargo bench --bench kernels
