use super::*;
use crate::layers::{BatchNorm1d, Linear};
use crate::module::Layer;
use dl_core::{Cpu, Rng, Tensor, S1};
use proptest::prelude::*;

/// A small network: two Linear layers around a BatchNorm1d whose running
/// mean is not trivial (so a round trip is visible).
#[derive(Module)]
#[module(crate = crate, init = Self::init_layers)]
struct Net<B: Backend = Cpu, E: Float = f32> {
    fc1: Linear<4, 8, B, E>,
    bn: BatchNorm1d<8, B, E>,
    fc2: Linear<8, 3, B, E>,
}

impl<B: Backend, E: Float> Net<B, E> {
    fn init_layers(dev: &B, rng: &mut Rng) -> Self {
        let mut bn = BatchNorm1d::init_with(dev, rng);
        let m: Vec<E> = (0..8).map(|i| E::from_f64(rng.uniform() + i as f64)).collect();
        bn.running_mean.set_value(&m).unwrap();
        Self {
            fc1: Linear::init_with(dev, rng),
            bn,
            fc2: Linear::init_with(dev, rng),
        }
    }
}

/// Shares `fc1` with [`Net`], has a wider `fc2` and an extra layer.
#[derive(Module)]
#[module(crate = crate)]
struct Other<B: Backend = Cpu, E: Float = f32> {
    fc1: Linear<4, 8, B, E>,
    fc2: Linear<8, 5, B, E>,
    extra: Linear<2, 2, B, E>,
}

/// A model that visits the same name twice (a bug a checkpoint must catch).
struct Twice(Linear<2, 2>);
impl Module<Cpu, f32> for Twice {
    const NUM_PARAMS: usize = 0;
    fn init_with(dev: &Cpu, rng: &mut Rng) -> Self {
        Self(Linear::init_with(dev, rng))
    }
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &RawParam<Cpu, f32>)) {
        self.0.visit(prefix, f);
        self.0.visit(prefix, f);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut RawParam<Cpu, f32>)) {
        self.0.visit_mut(prefix, f);
    }
    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut RawParam<Cpu, f32>)) {
        self.0.for_each_param(f);
    }
}

fn values<B: Backend, E: Float>(m: &impl Module<B, E>) -> Vec<(String, Vec<f64>)> {
    let mut v = vec![];
    m.visit("", &mut |n, p| {
        v.push((n.to_string(), p.value_vec().iter().map(|x| x.to_f64()).collect()))
    });
    v
}

fn tmp(tag: &str) -> PathBuf {
    crate::data::idx::tests::temp_dir(tag).join("model.safetensors")
}

const NAMES: [&str; 8] = [
    "fc1.weight",
    "fc1.bias",
    "bn.weight",
    "bn.bias",
    "bn.running_mean",
    "bn.running_var",
    "fc2.weight",
    "fc2.bias",
];

#[test]
fn round_trip_keeps_names_layouts_and_values() {
    let path = tmp("roundtrip");
    let a = Net::<Cpu, f32>::init(&Cpu, 1);
    save(&a, &path).unwrap();
    assert!(!path.with_file_name("model.safetensors.tmp").exists());

    // The file is plain safetensors with PyTorch names and layouts.
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().cloned().collect();
    names.sort();
    let mut want: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names, want);
    let w = st.tensor("fc1.weight").unwrap();
    assert_eq!((w.dtype(), w.shape()), (Dtype::F32, &[8usize, 4][..]));

    let mut b = Net::<Cpu, f32>::init(&Cpu, 2);
    assert_ne!(values(&a), values(&b));
    let r = load(&mut b, &path, true).unwrap();
    assert!(r.is_exact());
    assert_eq!(r.loaded, NAMES.to_vec());
    assert_eq!(values(&a), values(&b));

    // F64 models write F64; loading converts between the two.
    let a64 = Net::<Cpu, f64>::init(&Cpu, 3);
    save(&a64, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        SafeTensors::deserialize(&bytes)
            .unwrap()
            .tensor("bn.running_mean")
            .unwrap()
            .dtype(),
        Dtype::F64
    );
    let mut b32 = Net::<Cpu, f32>::init(&Cpu, 4);
    load(&mut b32, &path, true).unwrap();
    for ((_, x), (_, y)) in values(&a64).iter().zip(values(&b32)) {
        for (x, y) in x.iter().zip(y) {
            assert!((x - y).abs() <= 1e-7 * x.abs().max(1.0));
        }
    }
    // In memory.
    let bytes = save_to_bytes(&a).unwrap();
    let mut c = Net::<Cpu, f32>::init(&Cpu, 5);
    load_from_bytes(&mut c, &bytes, true).unwrap();
    assert_eq!(values(&a), values(&c));
}

#[test]
fn strict_refuses_and_changes_nothing_non_strict_loads_matches() {
    let path = tmp("strict");
    let a = Net::<Cpu, f32>::init(&Cpu, 1);
    save(&a, &path).unwrap();
    let mut o: Other = Other::init(&Cpu, 9);
    let before = values(&o);
    let e = load(&mut o, &path, true).unwrap_err();
    match &e {
        CheckpointError::Mismatch {
            missing,
            unexpected,
            mismatched,
            ..
        } => {
            assert_eq!(missing, &["extra.weight", "extra.bias"]);
            assert_eq!(
                unexpected,
                &["bn.bias", "bn.running_mean", "bn.running_var", "bn.weight"]
            );
            assert_eq!(
                mismatched,
                &[
                    ("fc2.weight".to_string(), vec![5, 8], vec![3, 8]),
                    ("fc2.bias".to_string(), vec![5], vec![3])
                ]
            );
        }
        _ => panic!("{e}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("missing extra.weight, extra.bias"), "{msg}");
    assert!(msg.contains("fc2.weight (model [5, 8], file [3, 8])"), "{msg}");
    assert_eq!(values(&o), before, "strict failure loads nothing");

    let r = load(&mut o, &path, false).unwrap();
    assert_eq!(r.loaded, vec!["fc1.weight", "fc1.bias"]);
    assert_eq!(r.missing.len(), 2);
    assert_eq!(r.unexpected.len(), 4);
    assert_eq!(r.mismatched.len(), 2);
    assert_eq!(o.fc1.weight.value_vec(), a.fc1.weight.value_vec());
    assert_eq!(
        o.fc2.weight.value_vec(),
        before[2].1.iter().map(|&v| v as f32).collect::<Vec<_>>()
    );
}

/// A writer that fails after `left` bytes, like a full disk.
struct FailAfter<'a> {
    inner: &'a mut File,
    left: usize,
}
impl Write for FailAfter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("disk full"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        self.inner.write(&buf[..n])
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Files in `path`'s directory whose name starts with `.<file name>.`:
/// the temporary files of saves to `path`.
fn temp_files(path: &Path) -> Vec<PathBuf> {
    let prefix = format!(".{}.", path.file_name().unwrap().to_string_lossy());
    std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&prefix))
        .collect()
}

#[test]
fn interrupted_save_keeps_the_previous_checkpoint() {
    let path = tmp("atomic");
    let a = Net::<Cpu, f32>::init(&Cpu, 1);
    save(&a, &path).unwrap();
    let b = Net::<Cpu, f32>::init(&Cpu, 2);
    let bytes = save_to_bytes(&b).unwrap();
    let e = write_atomic_with(
        &path,
        &bytes,
        |f, data| FailAfter { inner: f, left: 100 }.write_all(data),
        |_| Ok(()),
    )
    .unwrap_err();
    assert!(e.to_string().contains(".tmp: disk full"), "{e}");
    assert!(temp_files(&path).is_empty(), "the partial file is removed");
    let mut c = Net::<Cpu, f32>::init(&Cpu, 3);
    load(&mut c, &path, true).unwrap();
    assert_eq!(values(&c), values(&a));
    // Issue 19: a failed sync or rename keeps the old file too, and leaves
    // no temporary file behind.
    for step in [Step::Sync, Step::Rename] {
        let e = write_atomic_with(
            &path,
            &bytes,
            |f, data| f.write_all(data),
            |s| {
                if s == step {
                    Err(std::io::Error::other(format!("injected {s:?} failure")))
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains(&format!("injected {step:?} failure")), "{e}");
        assert!(temp_files(&path).is_empty(), "{step:?}: the temporary file is removed");
        load(&mut c, &path, true).unwrap();
        assert_eq!(values(&c), values(&a), "{step:?}");
    }
    // A completed save replaces it.
    save(&b, &path).unwrap();
    load(&mut c, &path, true).unwrap();
    assert_eq!(values(&c), values(&b));
    // A path without a file name is an error, not a panic.
    assert!(matches!(save(&a, Path::new("/")), Err(CheckpointError::Io { .. })));
}

/// Issue 19: concurrent saves to one path use distinct temporary files, so
/// the file at `path` is always one complete checkpoint (a shared
/// `<path>.tmp` let one saver rename the other's half-written file).
#[test]
fn concurrent_saves_never_leave_a_torn_file() {
    let path = tmp("concurrent");
    let nets: Vec<Net> = (0..2).map(|s| Net::init(&Cpu, 10 + s)).collect();
    save(&nets[0], &path).unwrap();
    let expected: Vec<_> = nets.iter().map(values).collect();
    std::thread::scope(|scope| {
        for net in &nets {
            let path = &path;
            scope.spawn(move || {
                for _ in 0..40 {
                    save(net, path).unwrap();
                }
            });
        }
        let path = &path;
        let expected = &expected;
        scope.spawn(move || {
            for _ in 0..80 {
                let mut c = Net::<Cpu, f32>::init(&Cpu, 3);
                load(&mut c, path, true).unwrap();
                assert!(expected.contains(&values(&c)));
            }
        });
    });
    assert!(temp_files(&path).is_empty());
    let _ = std::fs::remove_file(&path);
}

/// Issue 19: a replaced checkpoint keeps its permissions.
#[cfg(unix)]
#[test]
fn save_keeps_the_permissions_of_the_file_it_replaces() {
    use std::os::unix::fs::PermissionsExt;
    let path = tmp("perms");
    let a = Net::<Cpu, f32>::init(&Cpu, 1);
    save(&a, &path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    save(&a, &path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    save(&a, &path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
    let _ = std::fs::remove_file(&path);
}

#[derive(Module)]
#[module(crate = crate)]
struct Mlp<B: Backend = Cpu, E: Float = f32> {
    fc1: Linear<20, 16, B, E>,
    fc2: Linear<16, 3, B, E>,
}

#[test]
fn loads_a_pytorch_file_and_reproduces_its_output() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/mlp_train_step.safetensors");
    let mut m: Mlp = Mlp::init(&Cpu, 0);
    assert!(matches!(
        load(&mut m, &path, true),
        Err(CheckpointError::Mismatch { .. })
    ));
    let r = load(&mut m, &path, false).unwrap();
    assert_eq!(r.loaded, vec!["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
    assert!(r.missing.is_empty() && r.mismatched.is_empty());
    for n in ["input", "labels", "output", "loss", "grad_fc1.weight", "fc2.bias_after"] {
        assert!(r.unexpected.iter().any(|u| u == n), "{n} in {:?}", r.unexpected);
    }
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let f32s = |name: &str| decode(&st.tensor(name).unwrap(), |v| v as f32, Path::new("t"), name).unwrap();
    let x = Tensor::<S1<20>>::from_vec(&Cpu, 8, f32s("input")).unwrap();
    let h = dl_core::ops::relu(&m.fc1.forward(&x));
    let y = m.fc2.forward(&h).to_vec();
    let want = f32s("output");
    assert_eq!(y.len(), want.len());
    for (a, b) in y.iter().zip(&want) {
        assert!((a - b).abs() <= 5e-5 + 1e-4 * b.abs(), "{a} vs {b}");
    }
}

/// SGD with momentum, written for the test: state `step` and one
/// `state.<i>.momentum_buffer` per parameter.
#[derive(Default)]
struct Momentum {
    steps: u64,
    bufs: Vec<(Vec<usize>, Vec<f64>)>,
}
impl<B: Backend, E: Float> Optimizer<B, E> for Momentum {
    fn step<M: Module<B, E>>(&mut self, model: &mut M) {
        let mut i = 0;
        model.for_each_param(&mut |p| {
            if self.bufs.len() <= i {
                self.bufs.push((p.dims.clone(), vec![0.0; p.numel()]));
            }
            let g = p.grad_vec();
            let buf = &mut self.bufs[i].1;
            for (b, g) in buf.iter_mut().zip(&g) {
                *b = 0.9 * *b + g.to_f64();
            }
            let v: Vec<E> = p
                .value_vec()
                .iter()
                .zip(buf.iter())
                .map(|(v, b)| E::from_f64(v.to_f64() - 0.1 * b))
                .collect();
            p.set_value(&v).unwrap();
            i += 1;
        });
        self.steps += 1;
    }
    fn lr(&self) -> f64 {
        0.1
    }
    fn set_lr(&mut self, _lr: f64) {}
    fn state_dict(&self) -> Vec<(String, Vec<usize>, Vec<f64>)> {
        let mut v = vec![("step".to_string(), vec![], vec![self.steps as f64])];
        for (i, (d, b)) in self.bufs.iter().enumerate() {
            v.push((format!("state.{i}.momentum_buffer"), d.clone(), b.clone()));
        }
        v
    }
    fn load_state_dict(&mut self, state: &[(String, Vec<usize>, Vec<f64>)]) -> Result<(), String> {
        let (name, _, step) = state.first().ok_or("empty state")?;
        if name != "step" {
            return Err(format!("expected step first, got {name}"));
        }
        self.steps = step[0] as u64;
        self.bufs = state[1..].iter().map(|(_, d, b)| (d.clone(), b.clone())).collect();
        Ok(())
    }
}

#[test]
fn optimizer_state_round_trip() {
    let path = tmp("optim");
    let mut net = Net::<Cpu, f32>::init(&Cpu, 1);
    net.for_each_param(&mut |p| {
        let g: Vec<f32> = (0..p.numel()).map(|i| i as f32 * 0.01).collect();
        p.grad = g;
    });
    let mut opt = Momentum::default();
    Optimizer::<Cpu, f32>::step(&mut opt, &mut net);
    Optimizer::<Cpu, f32>::step(&mut opt, &mut net);
    save_with_optimizer(&net, &opt, &path).unwrap();

    // The model loads strictly: optimizer entries are not "unexpected".
    let mut net2 = Net::<Cpu, f32>::init(&Cpu, 2);
    assert!(load(&mut net2, &path, true).unwrap().is_exact());
    assert_eq!(values(&net), values(&net2));
    let mut opt2 = Momentum::default();
    load_optimizer(&mut opt2, &mut net2, &path).unwrap();
    assert_eq!(
        Optimizer::<Cpu, f32>::state_dict(&opt2),
        Optimizer::<Cpu, f32>::state_dict(&opt)
    );
    assert_eq!(opt2.steps, 2);

    // The entries are F64 under `optim.`.
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("optim.state.0.momentum_buffer").unwrap();
    assert_eq!((t.dtype(), t.shape()), (Dtype::F64, &[8usize, 4][..]));

    save(&net, &path).unwrap();
    assert!(matches!(
        load_optimizer(&mut opt2, &mut net2, &path),
        Err(CheckpointError::NoOptimizerState { .. })
    ));
    // Rejections by the optimizer carry the path.
    let e = write_hand_made(
        &path,
        r#"{"__metadata__":{"dl.optimizer_names":"[\"optim.x\"]"},"optim.x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#,
        8,
    );
    let err = load_optimizer(&mut opt2, &mut net2, &e).unwrap_err();
    assert!(
        err.to_string().contains("optimizer state: expected step first, got x"),
        "{err}"
    );
}

/// Writes a safetensors file with the given header and `data_len` zero bytes.
fn write_hand_made(path: &Path, header: &str, data_len: usize) -> PathBuf {
    let mut h = header.as_bytes().to_vec();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut b = (h.len() as u64).to_le_bytes().to_vec();
    b.extend(h);
    b.extend(vec![0u8; data_len]);
    std::fs::write(path, b).unwrap();
    path.to_path_buf()
}

#[test]
fn broken_files_are_typed_errors() {
    let path = tmp("broken");
    let a = Net::<Cpu, f32>::init(&Cpu, 1);
    let good = save_to_bytes(&a).unwrap();
    let mut m = Net::<Cpu, f32>::init(&Cpu, 2);
    let before = values(&m);
    let load_bytes = |m: &mut Net, b: &[u8]| {
        std::fs::write(&path, b).unwrap();
        load(m, &path, false)
    };
    // Truncated data, header past the end, tiny file, trailing bytes.
    let e = load_bytes(&mut m, &good[..good.len() - 1]).unwrap_err();
    assert!(matches!(e, CheckpointError::Truncated { .. }), "{e}");
    assert!(e.to_string().starts_with(&path.display().to_string()), "{e}");
    let mut h = good.clone();
    h[..8].copy_from_slice(&(good.len() as u64).to_le_bytes());
    let e = load_bytes(&mut m, &h).unwrap_err();
    assert!(e.to_string().contains("runs past the end"), "{e}");
    assert!(matches!(
        load_bytes(&mut m, &good[..5]),
        Err(CheckpointError::Truncated { .. })
    ));
    let mut t = good.clone();
    t.push(0);
    assert!(matches!(load_bytes(&mut m, &t), Err(CheckpointError::Truncated { .. })));
    // Garbage header.
    let mut g = good.clone();
    g[8] = b'#';
    assert!(matches!(load_bytes(&mut m, &g), Err(CheckpointError::Format { .. })));
    // Missing file.
    assert!(matches!(
        load(&mut m, path.with_file_name("absent"), false),
        Err(CheckpointError::Io { .. })
    ));
    // Duplicate names in the header.
    let dup = r#"{"fc1.bias":{"dtype":"F32","shape":[8],"data_offsets":[0,32]},"fc1.bias":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}"#;
    let e = load(&mut m, write_hand_made(&path, dup, 32), false).unwrap_err();
    assert!(
        matches!(&e, CheckpointError::DuplicateName { name, in_model: false, .. } if name == "fc1.bias"),
        "{e}"
    );
    // An I16 tensor where the model wants fc1.bias; an I64 tensor elsewhere is fine.
    let i16 = r#"{"fc1.bias":{"dtype":"I16","shape":[8],"data_offsets":[0,16]},"labels":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}}"#;
    let e = load(&mut m, write_hand_made(&path, i16, 24), false).unwrap_err();
    assert!(
        matches!(&e, CheckpointError::UnsupportedDType { dtype, .. } if dtype == "I16"),
        "{e}"
    );
    let i64_only = r#"{"labels":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#;
    let r = load(&mut m, write_hand_made(&path, i64_only, 8), false).unwrap();
    assert_eq!((r.loaded.len(), r.unexpected), (0, vec!["labels".to_string()]));
    assert_eq!(values(&m), before, "no failed load changed the model");
    // A model that repeats a name cannot be saved.
    let t = Twice::init(&Cpu, 0);
    assert!(matches!(
        save(&t, &path),
        Err(CheckpointError::DuplicateName { in_model: true, .. })
    ));
}

/// One random mutation of a file's bytes.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    HeaderLen(u64),
    Overwrite(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        prop_oneof![any::<u64>(), 0u64..2000].prop_map(Mutation::HeaderLen),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, v)| Mutation::Overwrite(i, v)),
    ];
    proptest::collection::vec(one, 1..4)
}

fn apply(bytes: &[u8], muts: &[Mutation], header_start: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for m in muts {
        if b.is_empty() {
            break;
        }
        match m {
            Mutation::Flip(i, bit) => {
                let i = i % b.len();
                b[i] ^= 1 << bit;
            }
            Mutation::Truncate(n) => b.truncate(n % b.len()),
            Mutation::HeaderLen(n) => {
                if b.len() >= header_start + 8 {
                    b[header_start..header_start + 8].copy_from_slice(&n.to_le_bytes());
                }
            }
            Mutation::Overwrite(i, v) => {
                // Mostly inside the header, where the structure is.
                let limit = b.len().min(400);
                let i = i % limit;
                for (k, &x) in v.iter().enumerate() {
                    if i + k < b.len() {
                        b[i + k] = x;
                    }
                }
            }
        }
    }
    b
}

/// A valid checkpoint with optimizer state, written once.
fn good_checkpoint() -> &'static [u8] {
    static GOOD: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    GOOD.get_or_init(|| {
        let mut net = Net::<Cpu, f32>::init(&Cpu, 1);
        let mut opt = Momentum::default();
        Optimizer::<Cpu, f32>::step(&mut opt, &mut net);
        let path = tmp("prop");
        save_with_optimizer(&net, &opt, &path).unwrap();
        let good = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
        good
    })
}

proptest! {
    #[test]
    fn mutated_checkpoints_never_panic(muts in mutation(), strict in any::<bool>()) {
        let bad = apply(good_checkpoint(), &muts, 0);
        let mut m = Net::<Cpu, f32>::init(&Cpu, 2);
        let before = values(&m);
        let r = load_from_bytes(&mut m, &bad, strict);
        if r.is_err() {
            prop_assert_eq!(values(&m), before);
        }
        let file = parse(Path::new("x"), &bad);
        if let Ok(file) = file {
            let _ = load_optimizer_parsed::<Cpu, f32>(&mut Momentum::default(), &file);
        }
    }

    #[test]
    fn mutated_idx_files_never_panic(muts in mutation(), gz in any::<bool>(), labels in any::<bool>()) {
        use crate::data::idx::{parse_idx_images, parse_idx_labels, tests as t};
        let raw = if labels { t::labels_bytes(&[1, 2, 3, 4, 9, 0]) } else { t::images_bytes(4, 3, 5) };
        let good = if gz { t::gzip(&raw) } else { raw };
        let bad = apply(&good, &muts, 4);
        let _ = if labels { parse_idx_labels("x", &bad, None) } else { parse_idx_images("x", &bad, None) };
        let _ = parse_idx_images("x", &bad, Some(2));
        let _ = crate::data::digits::parse_digits("x", &bad);
    }
}

/// Issue 19: an optimizer state saved for another model is refused by
/// `load_optimizer` (it made the first `step` panic), and the optimizer
/// keeps the state it had.
#[test]
fn optimizer_state_of_another_model_is_refused() {
    use crate::optim::Adam;
    let path = tmp("optim_other");
    let mut net = Net::<Cpu, f32>::init(&Cpu, 1);
    let mut adam = Adam::<Cpu, f32>::new(1e-3);
    Optimizer::<Cpu, f32>::step(&mut adam, &mut net);
    save_with_optimizer(&net, &adam, &path).unwrap();

    let mut other = Linear::<4, 3, Cpu, f32>::init(&Cpu, 0);
    let mut opt = Adam::<Cpu, f32>::new(1e-3);
    Optimizer::<Cpu, f32>::step(&mut opt, &mut other);
    let before = Optimizer::<Cpu, f32>::state_dict(&opt);
    let e = load_optimizer(&mut opt, &mut other, &path).unwrap_err();
    assert!(
        matches!(&e, CheckpointError::Optimizer { msg, .. } if msg.contains("does not fit this model")),
        "{e}"
    );
    assert_eq!(Optimizer::<Cpu, f32>::state_dict(&opt), before, "the old state is kept");
    Optimizer::<Cpu, f32>::step(&mut opt, &mut other);
    // The right model takes it.
    let mut net2 = Net::<Cpu, f32>::init(&Cpu, 1);
    let mut opt2 = Adam::<Cpu, f32>::new(1e-3);
    load_optimizer(&mut opt2, &mut net2, &path).unwrap();
    let _ = std::fs::remove_file(&path);
}

/// A checkpoint whose tensors are BF16 and F16 (as a mixed-precision run or
/// PyTorch's `model.half()` / `model.bfloat16()` writes it), made with the
/// safetensors crate, loads into f32 and f64 models: every value is the
/// 16-bit value, exactly.
#[test]
fn loads_bf16_and_f16_tensors() {
    use dl_core::dtype::half::{bf16_to_f32, f16_to_f32, f32_to_bf16, f32_to_f16};
    let src = Net::<Cpu, f32>::init(&Cpu, 3);
    let mut entries: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut expect: HashMap<String, Vec<f32>> = HashMap::new();
    let mut i = 0;
    src.visit("", &mut |name, p| {
        // Alternate BF16 and F16 tensors.
        type Codec = (Dtype, fn(f32) -> u16, fn(u16) -> f32);
        let (dtype, to_bits, from_bits): Codec = if i % 2 == 0 {
            (Dtype::BF16, f32_to_bf16, bf16_to_f32)
        } else {
            (Dtype::F16, f32_to_f16, f16_to_f32)
        };
        i += 1;
        let bits: Vec<u16> = p.value_vec().iter().map(|&v| to_bits(v)).collect();
        expect.insert(name.to_string(), bits.iter().map(|&b| from_bits(b)).collect());
        let bytes = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
        entries.push((name.to_string(), dtype, p.dims.clone(), bytes));
    });
    let views: Vec<(String, TensorView<'_>)> = entries
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let bytes = safetensors::serialize(views, &None).unwrap();
    let path = tmp("half");
    std::fs::write(&path, &bytes).unwrap();
    // The values differ from the f32 originals (rounded), so the check is not vacuous.
    assert!(expect["fc1.weight"] != src.fc1.weight.value_vec());

    let mut m = Net::<Cpu, f32>::init(&Cpu, 4);
    let r = load(&mut m, &path, true).unwrap();
    assert_eq!(r.loaded.len(), i);
    m.visit("", &mut |name, p| assert_eq!(p.value_vec(), expect[name], "{name}"));

    let mut m64 = Net::<Cpu, f64>::init(&Cpu, 4);
    load_from_bytes(&mut m64, &bytes, true).unwrap();
    m64.visit("", &mut |name, p| {
        let want: Vec<f64> = expect[name].iter().map(|&v| v as f64).collect();
        assert_eq!(p.value_vec(), want, "{name}");
    });
    // Saving again writes the model's dtype.
    save(&m, &path).unwrap();
    let again = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&again).unwrap();
    assert_eq!(st.tensor("fc1.weight").unwrap().dtype(), Dtype::F32);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn saves_in_bf16_and_f16_at_half_the_size_with_values_rounded_once() {
    use dl_core::dtype::half::{bf16_to_f32, f16_to_f32, f64_to_bf16, f64_to_f16};
    type Codec = (StorageDtype, Dtype, fn(f64) -> u16, fn(u16) -> f32);
    let codecs: [Codec; 2] = [
        (StorageDtype::Bf16, Dtype::BF16, f64_to_bf16, bf16_to_f32),
        (StorageDtype::F16, Dtype::F16, f64_to_f16, f16_to_f32),
    ];
    let src = Net::<Cpu, f32>::init(&Cpu, 3);
    let src64 = Net::<Cpu, f64>::init(&Cpu, 3);
    let path = tmp("save-half");
    save(&src, &path).unwrap();
    let full = std::fs::metadata(&path).unwrap().len();
    for (store, dtype, to, from) in codecs {
        save_as(&src, &path, store).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes.len() * 2 < full as usize + 600,
            "{store:?}: {} of {full} bytes",
            bytes.len()
        );
        let st = SafeTensors::deserialize(&bytes).unwrap();
        src.visit("", &mut |name, _| {
            assert_eq!(st.tensor(name).unwrap().dtype(), dtype, "{name}")
        });
        // Loading gives the rounded values, which differ from the originals.
        let mut back = Net::<Cpu, f32>::init(&Cpu, 4);
        load(&mut back, &path, true).unwrap();
        let mut changed = false;
        src.visit("", &mut |name, p| {
            let want: Vec<f32> = p.value_vec().iter().map(|&v| from(to(f64::from(v)))).collect();
            changed |= want != p.value_vec();
            let mut got = Vec::new();
            back.visit("", &mut |n, q| {
                if n == name {
                    got = q.value_vec();
                }
            });
            assert_eq!(got, want, "{store:?} {name}");
        });
        assert!(changed, "{store:?}: rounding changed no value");
        // An f64 model is rounded from its f64 values, once.
        save_as(&src64, &path, store).unwrap();
        let mut back64 = Net::<Cpu, f64>::init(&Cpu, 4);
        load(&mut back64, &path, true).unwrap();
        src64.visit("", &mut |name, p| {
            let want: Vec<f64> = p.value_vec().iter().map(|&v| f64::from(from(to(v)))).collect();
            let mut got = Vec::new();
            back64.visit("", &mut |n, q| {
                if n == name {
                    got = q.value_vec();
                }
            });
            assert_eq!(got, want, "{store:?} f64 {name}");
        });
    }
    // F32 of an f64 model, F64 of an f32 model.
    save_as(&src64, &path, StorageDtype::F32).unwrap();
    let st_bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        SafeTensors::deserialize(&st_bytes)
            .unwrap()
            .tensor("fc1.weight")
            .unwrap()
            .dtype(),
        Dtype::F32
    );
    save_as(&src, &path, StorageDtype::F64).unwrap();
    let mut back = Net::<Cpu, f32>::init(&Cpu, 4);
    load(&mut back, &path, true).unwrap();
    assert_eq!(back.fc1.weight.value_vec(), src.fc1.weight.value_vec());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_value_beyond_f16_is_refused_and_the_file_kept() {
    let mut m = Net::<Cpu, f32>::init(&Cpu, 3);
    let path = tmp("save-f16-range");
    save(&m, &path).unwrap();
    let before = std::fs::read(&path).unwrap();
    // 65519 rounds down to 65504 (the largest f16): accepted.
    let mut w = m.fc2.weight.value_vec();
    w[5] = 65519.0;
    m.fc2.weight.set_value(&w).unwrap();
    save_as(&m, tmp("save-f16-ok"), StorageDtype::F16).unwrap();
    // 65520 rounds to infinity: refused, naming the tensor and the value.
    w[5] = -65520.0;
    m.fc2.weight.set_value(&w).unwrap();
    let err = save_as(&m, &path, StorageDtype::F16).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::OutOfRange { name, value, dtype: StorageDtype::F16, .. }
            if name == "fc2.weight" && *value == -65520.0),
        "{err}"
    );
    assert!(err.to_string().contains("65504"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the old file was changed");
    // bf16 has f32's range: the same model saves.
    save_as(&m, &path, StorageDtype::Bf16).unwrap();
    // Infinities and NaN are values, not overflows: kept as they are.
    w[5] = f32::INFINITY;
    w[6] = f32::NAN;
    m.fc2.weight.set_value(&w).unwrap();
    save_as(&m, &path, StorageDtype::F16).unwrap();
    let mut back = Net::<Cpu, f32>::init(&Cpu, 4);
    load(&mut back, &path, true).unwrap();
    let v = back.fc2.weight.value_vec();
    assert!(v[5] == f32::INFINITY && v[6].is_nan());
    std::fs::remove_file(&path).unwrap();
}
