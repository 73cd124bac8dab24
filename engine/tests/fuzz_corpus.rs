//! Replays every checked-in fuzz corpus file (fuzz/corpus/<target>/*) through the same checks
//! the fuzz targets run, on stable Rust, as part of `cargo test`: a crash found once stays a test.

#[path = "../../fuzz/src/checks.rs"]
mod checks;

use std::path::Path;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus for {target}");
    files
}

fn replay(target: &str, check: impl Fn(&[u8])) {
    for (name, data) in corpus(target) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data))).is_err() {
            panic!("fuzz/corpus/{target}/{name} fails its check");
        }
    }
}

#[test]
fn request_corpus() {
    replay("request", checks::request);
}

#[test]
fn chunked_corpus() {
    replay("chunked", checks::chunked);
}

#[test]
fn router_corpus() {
    replay("router", |data| {
        let mut u = arbitrary::Unstructured::new(data);
        if let Ok(input) = <checks::RouterInput as arbitrary::Arbitrary>::arbitrary(&mut u) {
            checks::router(&input);
        }
    });
}

#[test]
fn connection_corpus() {
    replay("connection", |data| {
        let (splits, stream) = data.split_at(data.len().min(8));
        checks::connection(stream, splits);
        checks::streamed(stream, splits);
        checks::stingy_sink(stream, splits);
    });
}

#[test]
fn deferred_corpus() {
    replay("deferred", |data| {
        let (control, stream) = data.split_at(data.len().min(16));
        checks::deferred(control, stream);
    });
}

#[test]
fn files_corpus() {
    replay("files", checks::files);
}
