//! A model file of tens of MB, as operators meet real models: written by
//! `models/big_model.py` (48 MiB of weights, never committed), served over
//! HTTP, and fetched by the node's store, which streams it to disk, hashes
//! it while it downloads and caches it, so the node's memory does not grow
//! with the file; then loaded once and run.
//!
//! Its own test binary: the peak resident memory it measures is this
//! process's alone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "a test: a failure here is the test failing"
)]
use sibyl_oracle::{
    engine::{Engine, EngineSettings},
    store::{sha256_file, FetchLimits, ModelStore},
    tensor::{self, Tensor},
};
use std::{
    io::{Read, Write},
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

const MIB: u64 = 1024 * 1024;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The peak resident memory of this process so far (`VmHWM`), in bytes.
fn peak_resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib * 1024
}

/// Serves the file at `path` to every connection, read from disk 64 KiB at
/// a time (the server holds no copy of it either). Its URL.
fn serve_file(path: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let Ok(mut file) = std::fs::File::open(&path) else {
                let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                continue;
            };
            let len = file.metadata().unwrap().len();
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
            if stream.write_all(head.as_bytes()).is_err() {
                continue;
            }
            let mut buffer = vec![0u8; 64 * 1024];
            while let Ok(read) = file.read(&mut buffer) {
                if read == 0 || stream.write_all(&buffer[..read]).is_err() {
                    break;
                }
            }
        }
    });
    format!("http://{address}/big.onnx")
}

#[test]
fn a_model_of_tens_of_mb_is_streamed_hashed_cached_and_loaded_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("big.onnx");
    let generated = Command::new(repo_root().join(".local/venv/bin/python"))
        .arg(repo_root().join("models/big_model.py"))
        .arg(&source)
        .status()
        .expect("the project's Python (run scripts/setup.sh)");
    assert!(generated.success());
    let bytes = std::fs::metadata(&source).unwrap().len();
    assert!(bytes > 40 * MIB, "tens of MB: {bytes}");
    let hash = sha256_file(&source).unwrap();
    let url = serve_file(source.clone());
    let store = ModelStore::with_limits(
        dir.path().join("cache"),
        dir.path().to_path_buf(),
        FetchLimits {
            allow_http: true,
            trusted_hosts: vec!["127.0.0.1".to_string()],
            ..FetchLimits::default()
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let before = peak_resident_bytes();
    let started = Instant::now();
    let cached = runtime.block_on(store.fetch(&url, &hash)).unwrap();
    let took = started.elapsed();
    let growth = peak_resident_bytes().saturating_sub(before);
    eprintln!(
        "fetched {:.1} MiB in {took:?}; peak resident memory grew by {:.1} MiB",
        bytes as f64 / MIB as f64,
        growth as f64 / MIB as f64
    );
    assert!(
        growth < 16 * MIB,
        "fetching {bytes} bytes raised this process's peak memory by {growth} bytes"
    );
    assert_eq!(sha256_file(&cached).unwrap(), hash);

    // Cached: with the source gone, the next fetch reads the cache.
    std::fs::remove_file(&source).unwrap();
    assert_eq!(runtime.block_on(store.fetch(&url, &hash)).unwrap(), cached);

    // Loaded and run (once: a node's runner keeps the session).
    let engine = Engine::new(&EngineSettings::default()).unwrap();
    let started = Instant::now();
    let mut model = engine.load(&cached).unwrap();
    let loaded = started.elapsed();
    let input = tensor::encode(&[Tensor::from_f32("input", vec![1, 1024], &[0.5; 1024]).unwrap()]);
    let started = Instant::now();
    let output = tensor::decode(&model.run(&input).unwrap()).unwrap();
    eprintln!("loaded in {loaded:?}; one run in {:?}", started.elapsed());
    assert_eq!(output.len(), 1);
    assert_eq!(output[0].name, "logits");
    assert_eq!(output[0].dims, vec![1, 10]);
}
