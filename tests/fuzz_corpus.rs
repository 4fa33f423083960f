//! Replays every file of the fuzz corpora (`fuzz/corpus/<target>/`) through
//! the function its cargo-fuzz target calls, on the stable toolchain, so
//! that `cargo test` keeps every case the fuzzer found — crashes fixed
//! since among them — passing. Running the fuzzers themselves:
//! `fuzz/README.md`.

// The harness's model-checking parts are used by `tests/model_check.rs`.
#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::path::{Path, PathBuf};

/// Runs every corpus file of one target; returns how many there were.
fn replay(name: &str, run: harness::Target, dir: &Path) -> usize {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("readable corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    for file in &files {
        let data = std::fs::read(file).expect("readable corpus file");
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(
            outcome.is_ok(),
            "{name}: {} fails (replay it with `cargo run --example replay -- {name} {}` in fuzz/)",
            file.display(),
            file.display()
        );
    }
    files.len()
}

#[test]
fn every_corpus_file_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    std::thread::scope(|s| {
        let runs: Vec<_> = harness::TARGETS
            .iter()
            .map(|&(name, run)| {
                let dir = root.join(name);
                (name, s.spawn(move || replay(name, run, &dir)))
            })
            .collect();
        for (name, run) in runs {
            let n = run
                .join()
                .unwrap_or_else(|_| panic!("{name}: a corpus file fails"));
            println!("{name}: {n} corpus files pass");
        }
    });
}
