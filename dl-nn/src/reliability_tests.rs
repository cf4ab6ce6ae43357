//! Reliability of the readers of outside data: IDX images and labels, the
//! digits CSV, checkpoints and the optimizer state inside them.
//!
//! Each reader gets valid seed files that are mutated at random (bit flips,
//! byte edits, truncation, insertion, deletion, duplication, and edits that
//! know the format: IDX header words set to huge or boundary values,
//! safetensors header lengths, shapes and data offsets replaced by huge
//! numbers with the header length fixed up, CSV fields replaced). Loading
//! must return `Ok` or `Err`, never panic, and an `Ok` must be consistent.
//!
//! * The proptests run [`CASES`] cases per reader in the default suite.
//! * `fuzz_readers_for_a_while` (`#[ignore]`) is a stable-Rust mutation
//!   driver: `DL_FUZZ_SECS=60 cargo test -p dl-nn --lib fuzz_readers --
//!   --ignored --nocapture` runs each reader for that many seconds, catches
//!   panics with `catch_unwind`, prints executions and crashes per reader
//!   and writes crashing inputs to `$TMPDIR/dl-fuzz-crashes/`.
//!   (`fuzz/` holds `cargo fuzz` targets of the same readers for nightly.)

use crate::checkpoint::{self, load_from_bytes, load_optimizer_from_bytes};
use crate::data::digits::parse_digits;
use crate::data::idx::{parse_idx_images, parse_idx_labels, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC};
use crate::data::Dataset;
use crate::layers::Linear;
use crate::module::Module;
use crate::optim::{Adam, Optimizer};
use dl_core::Cpu;
use proptest::prelude::*;
use std::io::Write;
use std::sync::OnceLock;

/// Cases per reader in the default suite.
const CASES: u32 = 10_000;

/// SplitMix64: the mutators' small seeded generator.
pub(crate) struct Mix(u64);

impl Mix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A value in `0..n` (`0` when `n == 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Boundary values for binary header words.
const INTERESTING_U32: [u32; 16] = [
    0,
    1,
    2,
    3,
    7,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
    // Factors of u64::MAX: [163455, 1722007169, 65537] multiply to it exactly.
    1_722_007_169,
];

/// Boundary numbers for text fields (JSON shapes and offsets, CSV fields).
const INTERESTING_NUM: [&str; 20] = [
    "0",
    "1",
    "-1",
    "16",
    "17",
    "65",
    "255",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e308",
    "-0",
    "",
    "1.5",
    "NaN",
    "00",
];

/// The kind of file, for the mutations that know the format.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Format {
    /// Big-endian `u32` header words.
    Idx,
    /// A little-endian `u64` header length, then a JSON header.
    SafeTensors,
    /// Comma-separated integers.
    Csv,
}

/// Replaces one run of ASCII digits in `text[..]` with a boundary number.
fn replace_number(text: &mut Vec<u8>, rng: &mut Mix) -> bool {
    let runs: Vec<(usize, usize)> = {
        let mut v = Vec::new();
        let mut i = 0;
        while i < text.len() {
            if text[i].is_ascii_digit() {
                let s = i;
                while i < text.len() && text[i].is_ascii_digit() {
                    i += 1;
                }
                v.push((s, i));
            } else {
                i += 1;
            }
        }
        v
    };
    if runs.is_empty() {
        return false;
    }
    let (s, e) = runs[rng.below(runs.len())];
    let with: Vec<u8> = if rng.below(4) == 0 {
        rng.next().to_string().into_bytes()
    } else {
        INTERESTING_NUM[rng.below(INTERESTING_NUM.len())].as_bytes().to_vec()
    };
    text.splice(s..e, with);
    true
}

/// One format-blind mutation.
fn mutate_bytes(b: &mut Vec<u8>, rng: &mut Mix) {
    let len = b.len();
    match rng.below(6) {
        0 if len > 0 => {
            let i = rng.below(len);
            b[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            b[i] =
                [0, 0xff, 0x7f, 0x80, b'0', b',', b'\n', b'"'][rng.below(8)] ^ (rng.below(2) as u8 * rng.next() as u8);
        }
        2 => b.truncate(rng.below(len + 1)),
        3 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let ins: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            b.splice(at..at, ins);
        }
        4 if len > 0 => {
            let s = rng.below(len);
            let e = (s + 1 + rng.below(16)).min(len);
            b.drain(s..e);
        }
        5 if len > 0 => {
            let s = rng.below(len);
            let e = (s + 1 + rng.below(32)).min(len);
            let chunk = b[s..e].to_vec();
            let at = rng.below(len + 1);
            b.splice(at..at, chunk);
        }
        _ => {}
    }
}

/// One mutation that knows `format`.
fn mutate_format(b: &mut Vec<u8>, rng: &mut Mix, format: Format) {
    match format {
        Format::Idx => {
            // A header word: magic, then the dimensions.
            let words = (b.len() / 4).min(4);
            if words == 0 {
                return;
            }
            let w = rng.below(words);
            let v = if rng.below(3) == 0 {
                rng.next() as u32
            } else {
                INTERESTING_U32[rng.below(INTERESTING_U32.len())]
            };
            b[4 * w..4 * w + 4].copy_from_slice(&v.to_be_bytes());
            // Sometimes make the payload fit the new dimensions, so the
            // reader gets past its size checks.
            if rng.below(2) == 0 && b.len() >= 8 {
                let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                let ndim = if magic == IDX_LABELS_MAGIC { 1 } else { 3 };
                if b.len() >= 4 + 4 * ndim {
                    let dims = (0..ndim).map(|i| {
                        let o = 4 + 4 * i;
                        u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as u64
                    });
                    let numel = dims.fold(1u64, |a, d| a.saturating_mul(d));
                    if numel <= 4096 {
                        b.resize(4 + 4 * ndim + numel as usize, 7);
                    }
                }
            }
        }
        Format::SafeTensors => {
            if b.len() < 8 {
                return;
            }
            let n = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
            if rng.below(4) == 0 || n > (b.len() - 8) as u64 {
                // The header length itself.
                let v = [
                    0,
                    1,
                    2,
                    n.wrapping_sub(1),
                    n.wrapping_add(1),
                    u64::MAX,
                    1 << 63,
                    (b.len() - 8) as u64,
                ][rng.below(8)];
                b[..8].copy_from_slice(&v.to_le_bytes());
                return;
            }
            // Edit the JSON header (shapes, offsets, names, dtypes) and fix
            // the length up (most of the time) so the parser reads it.
            let end = 8 + n as usize;
            let mut header = b[8..end].to_vec();
            match rng.below(4) {
                0 | 1 => {
                    replace_number(&mut header, rng);
                }
                2 => {
                    let dtypes: [&[u8]; 6] = [b"F32", b"F64", b"F16", b"BOOL", b"I64", b"U8"];
                    let from = dtypes[rng.below(2)];
                    if let Some(p) = header.windows(from.len()).position(|w| w == from) {
                        header.splice(p..p + from.len(), dtypes[rng.below(dtypes.len())].iter().copied());
                    }
                }
                _ => mutate_bytes(&mut header, rng),
            }
            let fix = rng.below(8) != 0;
            let data = b[end..].to_vec();
            b.clear();
            let len = if fix { header.len() as u64 } else { n };
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(&header);
            b.extend_from_slice(&data);
        }
        Format::Csv => match rng.below(3) {
            0 => {
                replace_number(b, rng);
            }
            1 => {
                let at = rng.below(b.len() + 1);
                let ins: &[u8] = [&b","[..], b"\n", b"\r\n", b" ", b",,", b"\n\n", b"\xff"][rng.below(7)];
                b.splice(at..at, ins.iter().copied());
            }
            _ => {
                // Drop or double a line.
                let lines: Vec<usize> = std::iter::once(0)
                    .chain(b.iter().enumerate().filter(|(_, &c)| c == b'\n').map(|(i, _)| i + 1))
                    .collect();
                let s = lines[rng.below(lines.len())];
                let e = b[s..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| s + p + 1);
                if rng.below(2) == 0 {
                    b.drain(s..e);
                } else {
                    let line = b[s..e].to_vec();
                    b.splice(s..s, line);
                }
            }
        },
    }
}

/// `seed` after 1 to 4 random mutations (format-aware ones half the time).
pub(crate) fn mutate(seed: &[u8], rng: &mut Mix, format: Format) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        if rng.below(2) == 0 {
            mutate_format(&mut b, rng, format);
        } else {
            mutate_bytes(&mut b, rng);
        }
    }
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("in memory");
    e.finish().expect("in memory")
}

/// A mutated file: mutated plain, mutated then gzipped (so header edits
/// reach the parser through the decoder), or gzipped then mutated.
fn mutated_file(raw: &[u8], rng: &mut Mix, format: Format) -> Vec<u8> {
    match rng.below(4) {
        0 => mutate(&gzip(raw), rng, format),
        1 => gzip(&mutate(raw, rng, format)),
        _ => mutate(raw, rng, format),
    }
}

fn idx_images_seed() -> Vec<u8> {
    let mut v = Vec::new();
    for w in [IDX_IMAGES_MAGIC, 4, 3, 5] {
        v.extend_from_slice(&w.to_be_bytes());
    }
    v.extend((0..60).map(|i| i as u8));
    v
}

fn idx_labels_seed() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&IDX_LABELS_MAGIC.to_be_bytes());
    v.extend_from_slice(&6u32.to_be_bytes());
    v.extend_from_slice(&[1, 2, 3, 4, 9, 0]);
    v
}

fn digits_seed() -> Vec<u8> {
    let line = |p: u32, l: u32| {
        let mut v: Vec<String> = (0..64).map(|i| ((i * 7 + p) % 17).to_string()).collect();
        v.push(l.to_string());
        v.join(",")
    };
    format!("{}\n{}\r\n{}\n", line(0, 3), line(5, 9), line(16, 0)).into_bytes()
}

type Model = Linear<3, 2, Cpu, f32>;

fn model(seed: u64) -> Model {
    Model::init(&Cpu, seed)
}

fn values(m: &Model) -> (Vec<f32>, Vec<f32>) {
    (m.weight.value_vec(), m.bias.value_vec())
}

/// A valid checkpoint of a `Linear<3, 2>` with Adam state after one step.
fn checkpoint_seed() -> &'static [u8] {
    static SEED: OnceLock<Vec<u8>> = OnceLock::new();
    SEED.get_or_init(|| {
        let mut m = model(1);
        let mut opt = Adam::<Cpu, f32>::default();
        opt.step(&mut m);
        let path = std::env::temp_dir().join(format!("dl-nn-reliability-{}.safetensors", std::process::id()));
        checkpoint::save_with_optimizer(&m, &opt, &path).expect("writable temp dir");
        let bytes = std::fs::read(&path).expect("just written");
        let _ = std::fs::remove_file(&path);
        bytes
    })
}

/// IDX images: never a panic; an `Ok` holds exactly the declared data.
fn check_idx_images(bytes: &[u8]) {
    for limit in [None, Some(2)] {
        if let Ok(a) = parse_idx_images("x", bytes, limit) {
            assert_eq!(a.dims.len(), 3);
            let item = a.dims[1] * a.dims[2];
            let items = limit.map_or(a.dims[0], |l| l.min(a.dims[0]));
            assert_eq!(a.data.len(), items * item, "dims {:?}", a.dims);
        }
    }
}

/// IDX labels: as [`check_idx_images`].
fn check_idx_labels(bytes: &[u8]) {
    if let Ok(a) = parse_idx_labels("x", bytes, None) {
        assert_eq!(a.dims.len(), 1);
        assert_eq!(a.data.len(), a.dims[0]);
    }
}

/// Digits CSV: an `Ok` has 64 pixels in `[0, 1]` and a label below 10 per sample.
fn check_digits(bytes: &[u8]) {
    if let Ok(ds) = parse_digits("x", bytes) {
        assert_eq!(ds.data().len(), ds.len() * 64);
        assert!(ds.data().iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(ds.labels().iter().all(|&l| l < 10));
    }
}

/// Checkpoint: an `Err` leaves the model unchanged; a strict `Ok` loaded
/// every tensor, finite or not, of the right length.
fn check_checkpoint(bytes: &[u8], strict: bool) {
    let mut m = model(2);
    let before = values(&m);
    match load_from_bytes(&mut m, bytes, strict) {
        Err(_) => assert_eq!(values(&m), before, "a failed load changed the model"),
        Ok(r) => {
            if strict {
                assert!(r.is_exact());
            }
            let (w, b) = values(&m);
            assert_eq!((w.len(), b.len()), (6, 2));
        }
    }
}

/// Optimizer state: loading never panics, and a state that loads (and so
/// validates against the model) can take a training step.
fn check_optimizer_state(bytes: &[u8]) {
    let mut opt = Adam::<Cpu, f32>::default();
    let mut m = model(2);
    if load_optimizer_from_bytes(&mut opt, &mut m, bytes).is_ok() {
        assert!(opt.validate(&mut m).is_ok());
        opt.step(&mut m);
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Each case is a seed for the mutator: shrinking a seed is
        // meaningless, so a failure reports it as found.
        max_shrink_iters: 0,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_idx_images_never_panic(seed in any::<u64>()) {
        check_idx_images(&mutated_file(&idx_images_seed(), &mut Mix::new(seed), Format::Idx));
    }

    #[test]
    fn mutated_idx_labels_never_panic(seed in any::<u64>()) {
        check_idx_labels(&mutated_file(&idx_labels_seed(), &mut Mix::new(seed), Format::Idx));
    }

    #[test]
    fn mutated_digits_csv_never_panics(seed in any::<u64>()) {
        check_digits(&mutated_file(&digits_seed(), &mut Mix::new(seed), Format::Csv));
    }

    #[test]
    fn mutated_checkpoints_never_panic_nor_half_load(seed in any::<u64>(), strict in any::<bool>()) {
        check_checkpoint(&mutate(checkpoint_seed(), &mut Mix::new(seed), Format::SafeTensors), strict);
    }

    #[test]
    fn mutated_optimizer_state_never_panics(seed in any::<u64>()) {
        check_optimizer_state(&mutate(checkpoint_seed(), &mut Mix::new(seed), Format::SafeTensors));
    }
}

/// The seeds are valid (so the mutations start from files that load).
#[test]
#[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
fn seeds_load() {
    assert_eq!(
        parse_idx_images("x", &idx_images_seed(), None).unwrap().dims,
        vec![4, 3, 5]
    );
    assert_eq!(
        parse_idx_labels("x", &gzip(&idx_labels_seed()), None)
            .unwrap()
            .data
            .len(),
        6
    );
    assert_eq!(parse_digits("x", &digits_seed()).unwrap().labels(), &[3, 9, 0]);
    let mut m = model(2);
    assert!(load_from_bytes(&mut m, checkpoint_seed(), true).unwrap().is_exact());
    assert_eq!(
        values(&m),
        values(&{
            let mut m = model(1);
            Adam::<Cpu, f32>::default().step(&mut m);
            m
        })
    );
    let mut opt = Adam::<Cpu, f32>::default();
    load_optimizer_from_bytes(&mut opt, &mut model(3), checkpoint_seed()).unwrap();
    assert!(Optimizer::<Cpu, f32>::state_dict(&opt)
        .iter()
        .any(|(n, _, _)| n == "state.0.exp_avg"));
}

/// Regression (found while writing these tests): dimensions whose product
/// is exactly `u64::MAX` overflowed `header + payload` (a panic in debug
/// builds, a wrong size check in release ones).
#[test]
#[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
fn idx_dimensions_multiplying_to_u64_max_are_an_error() {
    let mut b = Vec::new();
    for w in [IDX_IMAGES_MAGIC, 163_455, 1_722_007_169, 65_537] {
        b.extend_from_slice(&w.to_be_bytes());
    }
    assert_eq!(163_455u64 * 1_722_007_169 * 65_537, u64::MAX);
    for bytes in [b.clone(), gzip(&b)] {
        let e = parse_idx_images("x", &bytes, None).unwrap_err();
        assert!(matches!(e, crate::data::DataError::AbsurdSize { .. }), "{e}");
    }
}

/// Writes a checkpoint whose optimizer state is `state` (name, shape, values).
fn checkpoint_with_state(state: &[(&str, Vec<usize>, Vec<f64>)]) -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView};
    let data: Vec<Vec<u8>> = state
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let names: Vec<String> = state.iter().map(|(n, _, _)| format!("optim.{n}")).collect();
    let views: Vec<(&str, TensorView<'_>)> = state
        .iter()
        .zip(&data)
        .zip(&names)
        .map(|(((_, dims, _), d), n)| (n.as_str(), TensorView::new(Dtype::F64, dims.clone(), d).unwrap()))
        .collect();
    let meta = std::collections::HashMap::from([
        ("format".to_string(), "dl".to_string()),
        ("dl.optimizer_names".to_string(), serde_json::to_string(&names).unwrap()),
    ]);
    safetensors::serialize(views, &Some(meta)).unwrap()
}

/// Regression: a parameter index read from a file sized a vector
/// (`state.18446744073709551615.step` overflowed `i + 1`, a large one
/// exhausted memory), and a step count near `u64::MAX` overflowed at the
/// next training step. Both are now errors of loading.
#[test]
fn optimizer_state_with_huge_index_or_step_is_an_error() {
    let ok = checkpoint_with_state(&[("step", vec![], vec![3.0]), ("state.0.step", vec![], vec![3.0])]);
    let mut opt = Adam::<Cpu, f32>::default();
    // A partial state (no exp_avg) is an error too, but not a panic.
    assert!(load_optimizer_from_bytes(&mut opt, &mut model(0), &ok).is_err());
    for idx in ["18446744073709551615", "4000000000", "65536"] {
        let name = format!("state.{idx}.step");
        let bytes = checkpoint_with_state(&[("step", vec![], vec![3.0]), (&name, vec![], vec![1.0])]);
        let e = load_optimizer_from_bytes(&mut opt, &mut model(0), &bytes).unwrap_err();
        assert!(e.to_string().contains("is not a parameter index"), "{e}");
    }
    for step in [1.8446744073709552e19, 1e300, 9007199254740994.0] {
        let bytes = checkpoint_with_state(&[("step", vec![], vec![step])]);
        let e = load_optimizer_from_bytes(&mut opt, &mut model(0), &bytes).unwrap_err();
        assert!(e.to_string().contains("a step count must be"), "{e}");
    }
    // The largest accepted step count still trains.
    let mut m = model(0);
    let mut opt = Adam::<Cpu, f32>::default();
    opt.step(&mut m);
    let mut state = Optimizer::<Cpu, f32>::state_dict(&opt);
    for (n, _, v) in &mut state {
        if n.ends_with("step") {
            v[0] = 9007199254740992.0;
        }
    }
    opt.load_state_dict(&state).unwrap();
    opt.validate(&mut m).unwrap();
    opt.step(&mut m);
}

/// Stable-Rust mutation driver (see the module docs). Fails when any
/// reader panicked.
#[test]
#[ignore = "runs for minutes: DL_FUZZ_SECS per reader (default 30)"]
fn fuzz_readers_for_a_while() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    let secs: u64 = std::env::var("DL_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let seed: u64 = std::env::var("DL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let crash_dir = std::env::temp_dir().join("dl-fuzz-crashes");
    static LAST_PANIC: Mutex<String> = Mutex::new(String::new());
    let old_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
    }));
    type Reader = (&'static str, Vec<u8>, Format, bool, fn(&[u8]));
    let readers: [Reader; 5] = [
        ("idx_images", idx_images_seed(), Format::Idx, true, check_idx_images),
        ("idx_labels", idx_labels_seed(), Format::Idx, true, check_idx_labels),
        ("digits_csv", digits_seed(), Format::Csv, true, check_digits),
        (
            "checkpoint",
            checkpoint_seed().to_vec(),
            Format::SafeTensors,
            false,
            |b| {
                check_checkpoint(b, true);
                check_checkpoint(b, false);
            },
        ),
        (
            "optimizer_state",
            checkpoint_seed().to_vec(),
            Format::SafeTensors,
            false,
            check_optimizer_state,
        ),
    ];
    let mut total_crashes = 0;
    for (k, (name, raw, format, gz, check)) in readers.into_iter().enumerate() {
        let mut rng = Mix::new(seed ^ ((k as u64) << 56));
        let start = Instant::now();
        let (mut execs, mut crashes) = (0u64, 0u64);
        // Inputs are mutated from the seed, or (a quarter of the time)
        // from the previous input, to reach deeper edits.
        let mut prev = raw.clone();
        while start.elapsed() < Duration::from_secs(secs) {
            for _ in 0..256 {
                let base = if rng.below(4) == 0 { prev.clone() } else { raw.clone() };
                let input = if gz {
                    mutated_file(&base, &mut rng, format)
                } else {
                    mutate(&base, &mut rng, format)
                };
                execs += 1;
                if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
                    crashes += 1;
                    if crashes <= 5 {
                        let _ = std::fs::create_dir_all(&crash_dir);
                        let f = crash_dir.join(format!("{name}-{execs}.bin"));
                        let _ = std::fs::write(&f, &input);
                        let msg = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).clone();
                        println!("{name}: crash at exec {execs} ({}): {msg}", f.display());
                    }
                }
                if input.len() < 1 << 16 {
                    prev = input;
                }
            }
        }
        println!("{name}: {execs} executions in {secs} s, {crashes} crashes");
        total_crashes += crashes;
    }
    std::panic::set_hook(old_hook);
    assert_eq!(total_crashes, 0, "crashing inputs are in {}", crash_dir.display());
}
