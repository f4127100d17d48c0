//! A fuzz harness over every loader (issue 10, item 8), on stable Rust: a
//! seeded mutator takes real files (kiln weights files and checkpoints,
//! Keras's `.keras` and `.weights.h5`) and flips bits, writes lying
//! lengths and offsets, truncates, splices, edits the safetensors header
//! and the HDF5 file inside a `.keras` archive (re-zipped, so the mutation
//! gets past the archive's checksum), then feeds the result to
//! `TensorFile::parse`, `load_weights_from_bytes`,
//! `Model::load_checkpoint_bytes` and the Keras loaders. Every input must
//! give `Ok` or a typed error: no panic, no abort, no allocation larger
//! than the input can justify (a global allocator records the largest
//! request), and on an error the model keeps its weights.
//!
//! `cargo test --test fuzz_loaders` runs a fixed, seeded batch (a few
//! seconds). A long run: `KILN_FUZZ_SECONDS=3600 cargo test --release
//! --test fuzz_loaders -- --nocapture` (`KILN_FUZZ_SEED` picks the seed);
//! it prints the inputs tried per loader, keeps the input being tried in
//! `target/fuzz-current.bin` (to find what killed an aborted run), and
//! writes every failing input to `target/fuzz-failure-*.bin`. Each input
//! that ever failed is kept in tests/fixtures/fuzz/ and replayed by
//! `regressions_stay_fixed`.
#![cfg(feature = "keras-weights")] // the Keras loaders are half of what it fuzzes

use kiln::io::{
    load_keras_archive_bytes, load_keras_h5_bytes, load_keras_weights_from_bytes, load_weights_from_bytes,
    weights_to_bytes, TensorFile,
};
use kiln::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Records the largest single allocation request.
struct Recording;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Recording = Recording;

/// The largest allocation an input of `len` bytes may cause: a few copies
/// of the input plus a fixed allowance, so a lying header claiming
/// gigabytes does not get them. The allowance covers the HDF5 reader's
/// largest bounded allocation: a version-1 object header reserves room for
/// the message count it claims, a `u16`, so at most 65,535 × 144 bytes =
/// 9.4 MB whatever the file (the fuzzer found it; bounded, so accepted).
fn allocation_cap(len: usize) -> usize {
    16 * len + (16 << 20)
}

kiln::model! {
    struct Mlp {
        input x: [f32; 4];
        let h = Dense(16, activation = relu)(x);
        let p = Dense(3, activation = softmax)(h);
        output p;
    }
}

kiln::model! {
    struct TwoIo {
        input ids: [u32; 8];
        input extra: [f32; 5];
        let e = Embedding(4, 6)(ids);
        let l = LSTM(3)(e);
        let c = concatenate([l, extra]);
        let d = Dense(1, activation = sigmoid)(c);
        let aux = Dense(2, name = "aux")(c);
        output d, aux;
    }
}

kiln::model! {
    struct Inner {
        input x: [f32; 8];
        let h = Dense(4, activation = tanh)(x);
        let y = Dense(3)(h);
        output y;
    }
}

kiln::model! {
    struct Distributed {
        input steps: [f32; 6, 8];
        let per_step = TimeDistributed(Dense(5, activation = relu))(steps);
        let inner: [6, 3] = custom(kiln::layers::TimeDistributed::<Inner, 6>::new(Inner::new(1)))(steps);
        let both = concatenate([per_step, inner], axis = 2);
        let flat = Flatten()(both);
        let p = Dense(2, activation = softmax)(flat);
        output p;
    }
}

kiln::model! {
    struct Grus {
        input x: [f32; 5, 3];
        let g = GRU(4, return_sequences = true)(x);
        let h = GRU(3)(g);
        let p = Dense(2)(h);
        output p;
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/keras_files/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every parameter's bits (a loaded file may hold NaNs, which `==` on
/// floats would call changed).
fn values<N: Network>(net: &N) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    net.params(&mut |p| out.push(p.value.iter().map(|v| v.to_bits()).collect()));
    out
}

fn mlp_model() -> Model<Mlp> {
    let x: Vec<[f32; 4]> = (0..16).map(|i| std::array::from_fn(|j| ((i * 5 + j * 3) % 7) as f32 / 3.0 - 1.0)).collect();
    let y: Vec<u32> = (0..16).map(|i| i % 3).collect();
    let mut model = Mlp::new(1).compile(Adam::new(0.01), SparseCategoricalCrossentropy, &[]);
    model.fit(&x, &y).epochs(1).batch_size(8).verbose(0).run().unwrap();
    model
}

/// The real files the mutator starts from.
struct Seeds {
    safetensors: Vec<Vec<u8>>,
    h5: Vec<Vec<u8>>,
    keras: Vec<Vec<u8>>,
}

fn seeds() -> Seeds {
    let trained = mlp_model();
    Seeds {
        safetensors: vec![
            weights_to_bytes(trained.network()).unwrap(),
            trained.checkpoint_bytes().unwrap(),
            weights_to_bytes(&TwoIo::new(2)).unwrap(),
        ],
        h5: vec![fixture("mlp.weights.h5"), fixture("two_io.weights.h5"), fixture("time_distributed.weights.h5")],
        keras: vec![fixture("mlp.keras"), fixture("two_io.keras"), fixture("gru.keras")],
    }
}

/// Values a lying header likes: zero, one, the largest, near the file's length.
fn interesting(rng: &mut ChaCha8Rng, len: usize) -> u64 {
    match rng.gen_range(0..10) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => u32::MAX as u64,
        4 => i32::MAX as u64,
        5 => 1 << 40,
        6 => len as u64 + rng.gen_range(0..64),
        7 => (len as u64).saturating_sub(rng.gen_range(0..64)),
        8 => 1 << rng.gen_range(0..63),
        _ => rng.gen(),
    }
}

/// A position: 40% in the first KiB (safetensors and zip headers, HDF5's
/// superblock and root group), 20% in the last 256 bytes (a zip's central
/// directory and end record), else anywhere.
fn position(rng: &mut ChaCha8Rng, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    match rng.gen_range(0..10) {
        0..=3 => rng.gen_range(0..len.min(1024)),
        4 | 5 => rng.gen_range(len.saturating_sub(256)..len),
        _ => rng.gen_range(0..len),
    }
}

/// One to four random edits of `input`; `donors` provide spliced bytes.
fn mutate(rng: &mut ChaCha8Rng, input: &[u8], donors: &[&Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = out.len();
        match rng.gen_range(0..9) {
            0 if len > 0 => {
                let at = position(rng, len);
                out[at] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let at = position(rng, len);
                out[at] = [0u8, 0xff, 0x7f, 0x80, b'0', b'9', b'"', b'{'][rng.gen_range(0..8)];
            }
            2 if len >= 8 => {
                // A lying length or offset, 2, 4 or 8 bytes, either order.
                let width = [2usize, 4, 8][rng.gen_range(0..3)];
                let at = position(rng, len - width + 1).min(len - width);
                let value = interesting(rng, len);
                let bytes = if rng.gen_bool(0.8) { value.to_le_bytes() } else { value.to_be_bytes() };
                out[at..at + width].copy_from_slice(&bytes[..width]);
            }
            3 => out.truncate(rng.gen_range(0..=len)),
            4 => {
                let donor = donors[rng.gen_range(0..donors.len())];
                if !donor.is_empty() && len > 0 {
                    let from = rng.gen_range(0..donor.len());
                    let n = rng.gen_range(1..=(donor.len() - from).min(256));
                    let at = position(rng, len);
                    let end = (at + n).min(len);
                    out.splice(at..end, donor[from..from + n].iter().copied());
                }
            }
            5 if len > 0 => {
                let at = position(rng, len);
                let n = rng.gen_range(1..=(len - at).min(64));
                out.drain(at..at + n);
            }
            6 => {
                let at = position(rng, len + 1).min(len);
                let n = rng.gen_range(1..=16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                out.splice(at..at, bytes);
            }
            7 => edit_safetensors_header(rng, &mut out),
            _ if len > 0 => {
                let at = position(rng, len);
                let n = rng.gen_range(1..=(len - at).min(64));
                let copy = out[at..at + n].to_vec();
                let to = position(rng, len + 1).min(len);
                out.splice(to..to, copy);
            }
            _ => {}
        }
    }
    out
}

/// Rewrites a number in a safetensors JSON header (a shape, an offset) and
/// fixes the header's length prefix, so the edit reaches the checks behind
/// the JSON parser.
fn edit_safetensors_header(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>) {
    if bytes.len() < 8 {
        return;
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    if n > bytes.len() - 8 {
        return;
    }
    let header = &bytes[8..8 + n];
    let digits: Vec<usize> = (0..n).filter(|&i| header[i].is_ascii_digit()).collect();
    if digits.is_empty() {
        return;
    }
    let start = digits[rng.gen_range(0..digits.len())];
    let end = (start..n).find(|&i| !header[i].is_ascii_digit()).unwrap_or(n);
    let replacement = ["0", "1", "18446744073709551615", "4294967296", "99999999999999999999", "-1", "1e9"]
        [rng.gen_range(0..7)]
    .as_bytes()
    .to_vec();
    let mut new_header = header[..start].to_vec();
    new_header.extend_from_slice(&replacement);
    new_header.extend_from_slice(&header[end..]);
    let mut out = (new_header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&new_header);
    out.extend_from_slice(&bytes[8 + n..]);
    *bytes = out;
}

/// Mutates the `model.weights.h5` inside a `.keras` archive and zips it
/// again (stored, as Keras writes it).
fn mutate_inside_archive(rng: &mut ChaCha8Rng, archive: &[u8], donors: &[&Vec<u8>]) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).expect("a seed archive");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..zip.len() {
        let mut member = zip.by_index(i).unwrap();
        let name = member.name().to_string();
        let mut data = Vec::new();
        member.read_to_end(&mut data).unwrap();
        if name == "model.weights.h5" {
            data = mutate(rng, &data, donors);
        }
        out.start_file(name, options).unwrap();
        out.write_all(&data).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// What happened to one input.
#[derive(Default)]
struct Tally {
    inputs: u64,
    accepted: u64,
    failures: Vec<String>,
}

/// Runs `load` on `input` (a model load that may fail): it must not
/// panic, nor allocate more than the input justifies.
fn attempt(tally: &mut Tally, what: &str, input: &[u8], load: &mut dyn FnMut(&[u8]) -> Result<bool, String>) {
    tally.inputs += 1;
    LARGEST.store(0, Ordering::Relaxed);
    let outcome = catch_unwind(AssertUnwindSafe(|| load(input)));
    let largest = LARGEST.load(Ordering::Relaxed);
    let failure = match outcome {
        Ok(Ok(accepted)) => {
            tally.accepted += u64::from(accepted);
            None
        }
        Ok(Err(message)) => Some(message),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Some(format!("panic: {message}"))
        }
    };
    let failure = failure.or_else(|| {
        (largest > allocation_cap(input.len()))
            .then(|| format!("allocated {largest} bytes at once for an input of {} bytes", input.len()))
    });
    if let Some(message) = failure {
        static SAVED: AtomicUsize = AtomicUsize::new(0);
        let path = target_dir().join(format!("fuzz-failure-{}.bin", SAVED.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::write(&path, input);
        tally.failures.push(format!("{what}: {message} (input in {})", path.display()));
    }
}

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|deps| deps.parent()).and_then(|p| p.parent()).unwrap().to_path_buf()
}

/// A loader under test: takes bytes, loads them into its own model, and
/// checks that a failed load changed nothing.
type Loader = Box<dyn FnMut(&[u8]) -> Result<bool, String>>;

fn model_loader<N: Network + 'static>(
    mut net: N,
    load: fn(&mut N, &[u8]) -> Result<(), kiln::io::FileProblem>,
) -> Loader {
    Box::new(move |bytes| {
        let before = values(&net);
        match load(&mut net, bytes) {
            Ok(()) => Ok(true),
            Err(problem) => {
                let _ = problem.to_string();
                if values(&net) != before {
                    return Err(format!("a failed load ({problem}) changed the model"));
                }
                Ok(false)
            }
        }
    })
}

fn loaders() -> Vec<(&'static str, Loader)> {
    let mut checkpoint = mlp_model();
    vec![
        (
            "TensorFile::parse",
            Box::new(|bytes: &[u8]| {
                Ok(TensorFile::parse(bytes, "kiln.weights", "1").is_ok()
                    | TensorFile::parse(bytes, "kiln.checkpoint", "1").is_ok())
            }),
        ),
        ("load_weights_from_bytes (Mlp)", model_loader(Mlp::new(3), load_weights_from_bytes)),
        ("load_weights_from_bytes (TwoIo)", model_loader(TwoIo::new(3), load_weights_from_bytes)),
        (
            "Model::load_checkpoint_bytes",
            Box::new(move |bytes: &[u8]| {
                let before = values(checkpoint.network());
                match checkpoint.load_checkpoint_bytes(bytes) {
                    // A loaded state must also survive a step (a step count
                    // that overflows must be a load error, not a panic here);
                    // the step may refuse, e.g. NaN weights give NaN gradients.
                    Ok(()) => {
                        let _ = checkpoint.train_on_batch(&[[0.5f32, -0.25, 1.0, 0.0]][..], &[1u32][..]);
                        Ok(true)
                    }
                    Err(problem) if values(checkpoint.network()) != before => {
                        Err(format!("a failed load ({problem}) changed the model"))
                    }
                    Err(_) => Ok(false),
                }
            }),
        ),
        ("load_keras_weights_from_bytes (Mlp)", model_loader(Mlp::new(3), load_keras_weights_from_bytes)),
        ("load_keras_weights_from_bytes (TwoIo)", model_loader(TwoIo::new(3), load_keras_weights_from_bytes)),
        ("load_keras_h5_bytes (Distributed)", model_loader(Distributed::new(3), load_keras_h5_bytes)),
        ("load_keras_archive_bytes (Grus)", model_loader(Grus::new(3), load_keras_archive_bytes)),
    ]
}

/// Runs `rounds` rounds (or until `deadline`): each round makes one input
/// per kind of seed and gives every input to every loader.
fn fuzz(seed: u64, rounds: Option<u64>, deadline: Option<Instant>) -> Vec<(&'static str, Tally)> {
    let seeds = seeds();
    let donors: Vec<&Vec<u8>> = seeds.safetensors.iter().chain(&seeds.h5).chain(&seeds.keras).collect();
    let mut loaders = loaders();
    let mut tallies: Vec<(&'static str, Tally)> = loaders.iter().map(|(n, _)| (*n, Tally::default())).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keep_current = deadline.is_some();
    let current = target_dir().join("fuzz-current.bin");
    let mut round = 0u64;
    while rounds.is_none_or(|r| round < r) && deadline.is_none_or(|d| Instant::now() < d) {
        round += 1;
        let pick = |rng: &mut ChaCha8Rng, set: &Vec<Vec<u8>>| set[rng.gen_range(0..set.len())].clone();
        let safetensors = pick(&mut rng, &seeds.safetensors);
        let h5 = pick(&mut rng, &seeds.h5);
        let keras = pick(&mut rng, &seeds.keras);
        let inputs = [
            mutate(&mut rng, &safetensors, &donors),
            mutate(&mut rng, &h5, &donors),
            mutate(&mut rng, &keras, &donors),
            mutate_inside_archive(&mut rng, &keras, &donors),
        ];
        for input in &inputs {
            if keep_current {
                let _ = std::fs::write(&current, input);
            }
            for ((name, load), (_, tally)) in loaders.iter_mut().zip(tallies.iter_mut()) {
                attempt(tally, name, input, load.as_mut());
            }
        }
    }
    tallies
}

fn report(tallies: &[(&str, Tally)], elapsed: Duration) -> Vec<String> {
    let total: u64 = tallies.iter().map(|(_, t)| t.inputs).sum();
    println!("fuzz: {total} loads in {:.1} s", elapsed.as_secs_f64());
    for (name, tally) in tallies {
        println!("  {name}: {} inputs, {} accepted, {} failures", tally.inputs, tally.accepted, tally.failures.len());
    }
    tallies.iter().flat_map(|(_, t)| t.failures.clone()).collect()
}

/// The short, seeded batch that `cargo test` runs; a long run when
/// `KILN_FUZZ_SECONDS` is set.
#[test]
fn mutated_files_never_panic_nor_overallocate() {
    let seed = std::env::var("KILN_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let seconds: Option<u64> = std::env::var("KILN_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok());
    let start = Instant::now();
    let tallies = match seconds {
        Some(s) => fuzz(seed, None, Some(start + Duration::from_secs(s))),
        None => fuzz(seed, Some(1500), None),
    };
    let failures = report(&tallies, start.elapsed());
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    // The mutations are not all fatal: some inputs still load (a flipped
    // bit in a weight's value), so the loaders were reached past the header.
    assert!(tallies.iter().any(|(_, t)| t.accepted > 0));
}

/// Every input that once made a loader fail (tests/fixtures/fuzz/),
/// given to every loader again.
#[test]
fn regressions_stay_fixed() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    let mut loaders = loaders();
    let mut tally = Tally::default();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bin") {
            let input = std::fs::read(&path).unwrap();
            for (name, load) in loaders.iter_mut() {
                attempt(&mut tally, &format!("{} on {name}", path.display()), &input, load.as_mut());
            }
        }
    }
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n"));
}
