//! Command-line arguments shared by the examples (and their tests, which
//! include this file with `#[path]`): example code, not part of the `dl` API.
//!
//! Every example accepts `--data DIR`, `--epochs N`, `--batch-size N`,
//! `--seed N`, `--lr F`, `--device cpu|cuda|auto` and `--quiet`; a bad
//! argument is a typed [`ArgError`] that the example prints with its usage
//! before exiting with status 2 (never a panic).
//!
//! ```ignore
//! use common::cli::{Args, DeviceChoice};
//! let a = Args::parse_from(["--epochs", "3", "--device", "cpu"], Args::default()).unwrap();
//! assert_eq!(a.epochs, 3);
//! assert_eq!(a.device, DeviceChoice::Cpu);
//! assert!(Args::parse_from(["--epochs", "three"], Args::default()).is_err());
//! ```

use std::path::{Path, PathBuf};

/// Which device an example should run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The CPU backend.
    Cpu,
    /// The CUDA backend (an error when unavailable).
    Cuda,
    /// CUDA when a GPU is usable, else the CPU.
    Auto,
}

dl::core::debug_as_display!(ArgError);

/// A command-line argument that could not be used.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    /// An option this program does not know.
    #[error("unknown option `{0}`")]
    Unknown(String),
    /// An option given without its value.
    #[error("option `{0}` needs a value")]
    MissingValue(String),
    /// A value that does not parse or is out of range.
    #[error("invalid value `{value}` for `{option}`: {reason}")]
    Invalid {
        /// The option.
        option: String,
        /// The value given.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// `--help` was asked for.
    #[error("help requested")]
    Help,
}

/// The largest `--epochs` accepted (so that epochs x steps per epoch, the
/// step count of a schedule, cannot overflow).
pub const MAX_EPOCHS: usize = 1_000_000;

/// Parsed example arguments, with the example's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    /// Directory with the IDX files (`train-images-idx3-ubyte.gz`, ...).
    pub data: PathBuf,
    /// Epochs to train.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Learning rate.
    pub lr: f64,
    /// Device choice.
    pub device: DeviceChoice,
    /// No progress output.
    pub quiet: bool,
    /// Use only the first N training samples (0: all), for quick runs.
    pub limit: usize,
    /// Compute precision of the matrix products (`--precision`): f32, or
    /// bf16 / f16 mixed precision (`FitConfig::mixed_precision`).
    pub precision: dl::core::amp::Precision,
    /// Whether this example honours `--precision` (the others refuse it
    /// rather than ignore it).
    pub accepts_precision: bool,
}

/// The bundled MNIST directory, found at run time (a binary copied to
/// another machine must not look in the build machine's checkout):
/// `data/mnist` under the current directory, else under a directory
/// above the executable (`target/release/examples/x` -> the repository),
/// else the checkout the binary was built from; `data/mnist` under the
/// current directory when none exists (so the error names that path).
pub fn default_data_dir() -> PathBuf {
    find_data_dir(
        &std::env::current_dir().unwrap_or_default(),
        std::env::current_exe().ok().as_deref(),
        Path::new(env!("CARGO_MANIFEST_DIR")),
    )
}

fn find_data_dir(cwd: &Path, exe: Option<&Path>, built_in: &Path) -> PathBuf {
    let rel = Path::new("data").join("mnist");
    std::iter::once(cwd)
        .chain(exe.into_iter().flat_map(|e| e.ancestors().skip(1)))
        .chain(std::iter::once(built_in))
        .map(|d| d.join(&rel))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| cwd.join(rel))
}

impl Default for Args {
    fn default() -> Self {
        Self {
            data: default_data_dir(),
            epochs: 1,
            batch_size: 64,
            seed: 42,
            lr: 0.01,
            device: DeviceChoice::Auto,
            quiet: false,
            limit: 0,
            precision: dl::core::amp::Precision::F32,
            accepts_precision: false,
        }
    }
}

/// The usage text of the common options.
pub const USAGE: &str = "options:
  --data DIR         directory with MNIST-format IDX files (default: the bundled data/mnist)
  --epochs N         epochs to train
  --batch-size N     mini-batch size (> 0)
  --seed N           random seed
  --lr F             learning rate (> 0)
  --device D         cpu | cuda | auto
  --limit N          use only the first N training samples (0 = all)
  --precision P      f32 | bf16 | f16: mixed precision, products in bf16/f16 with f32
                     weights (mnist_cnn only)
  --quiet            no progress output
  --help             this text";

fn num<T: std::str::FromStr>(opt: &str, v: &str) -> Result<T, ArgError>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>().map_err(|e| ArgError::Invalid {
        option: opt.into(),
        value: v.into(),
        reason: e.to_string(),
    })
}

impl Args {
    /// An example's defaults: its own `epochs`, `batch_size` and learning
    /// rate `lr`, the common ones (`Args::default()`) for the rest.
    pub fn training(epochs: usize, batch_size: usize, lr: f64) -> Args {
        Args {
            epochs,
            batch_size,
            lr,
            ..Args::default()
        }
    }

    /// Parses `std::env::args()` (skipping the program name) over `defaults`.
    ///
    /// # Errors
    /// See [`ArgError`].
    pub fn parse(defaults: Args) -> Result<Args, ArgError> {
        Self::parse_from(std::env::args().skip(1), defaults)
    }

    /// Parses the given arguments over `defaults`.
    ///
    /// # Errors
    /// See [`ArgError`].
    pub fn parse_from<I, S>(args: I, defaults: Args) -> Result<Args, ArgError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut a = defaults;
        let mut it = args.into_iter().map(Into::into);
        while let Some(opt) = it.next() {
            let (opt, inline) = match opt.split_once('=') {
                Some((o, v)) if o.starts_with("--") => (o.to_string(), Some(v.to_string())),
                _ => (opt, None),
            };
            let flag = matches!(opt.as_str(), "--quiet" | "--help" | "-h");
            if opt == "--quiet" {
                // `--quiet`, `--quiet=true`, `--quiet=false`.
                a.quiet = match inline.as_deref() {
                    None | Some("true") | Some("1") => true,
                    Some("false") | Some("0") => false,
                    Some(v) => {
                        return Err(ArgError::Invalid {
                            option: opt,
                            value: v.to_string(),
                            reason: "expected true or false".into(),
                        })
                    }
                };
                continue;
            }
            const VALUED: [&str; 8] = [
                "--precision",
                "--data",
                "--epochs",
                "--batch-size",
                "--seed",
                "--limit",
                "--lr",
                "--device",
            ];
            if !flag && !VALUED.contains(&opt.as_str()) {
                return Err(ArgError::Unknown(opt));
            }
            let val = if flag {
                String::new()
            } else {
                match inline.or_else(|| it.next()) {
                    Some(v) => v,
                    None => return Err(ArgError::MissingValue(opt)),
                }
            };
            match opt.as_str() {
                "--data" => a.data = PathBuf::from(val),
                "--epochs" => {
                    a.epochs = num(&opt, &val)?;
                    // Step counts (epochs x steps per epoch) must not overflow.
                    if a.epochs > MAX_EPOCHS {
                        return Err(ArgError::Invalid {
                            option: opt,
                            value: val,
                            reason: format!("must be at most {MAX_EPOCHS}"),
                        });
                    }
                }
                "--batch-size" => {
                    a.batch_size = num(&opt, &val)?;
                    if a.batch_size == 0 {
                        return Err(ArgError::Invalid {
                            option: opt,
                            value: val,
                            reason: "must be > 0".into(),
                        });
                    }
                }
                "--seed" => a.seed = num(&opt, &val)?,
                "--limit" => a.limit = num(&opt, &val)?,
                "--lr" => {
                    a.lr = num(&opt, &val)?;
                    if !(a.lr > 0.0 && a.lr.is_finite()) {
                        return Err(ArgError::Invalid {
                            option: opt,
                            value: val,
                            reason: "must be a positive number".into(),
                        });
                    }
                }
                "--device" => {
                    a.device = match val.as_str() {
                        "cpu" => DeviceChoice::Cpu,
                        "cuda" => DeviceChoice::Cuda,
                        "auto" => DeviceChoice::Auto,
                        _ => {
                            return Err(ArgError::Invalid {
                                option: opt,
                                value: val,
                                reason: "expected cpu, cuda or auto".into(),
                            })
                        }
                    }
                }
                "--precision" => {
                    if !a.accepts_precision {
                        return Err(ArgError::Invalid {
                            option: opt,
                            value: val,
                            reason: "this example does not train in mixed precision (mnist_cnn does)".into(),
                        });
                    }
                    a.precision = num(&opt, &val)?;
                }
                "--quiet" => a.quiet = true,
                "--help" | "-h" => return Err(ArgError::Help),
                _ => return Err(ArgError::Unknown(opt)),
            }
        }
        Ok(a)
    }

    /// Parses the process arguments, or prints the error and usage and exits
    /// with status 2 (0 for `--help`).
    pub fn parse_or_exit(program: &str, about: &str, defaults: Args) -> Args {
        match Self::parse(defaults) {
            Ok(a) => a,
            Err(ArgError::Help) => {
                println!("{program}: {about}\n\nusage: cargo run --release --example {program} -- [options]\n{USAGE}");
                std::process::exit(0)
            }
            Err(e) => {
                eprintln!("{program}: {e}\n\nusage: cargo run --release --example {program} -- [options]\n{USAGE}");
                std::process::exit(2)
            }
        }
    }

    /// Resolves `--device` to the CPU backend, saying which device was
    /// picked and why. CUDA needs the `cuda` feature and a GPU; `cuda` when
    /// it is unavailable is an error, `auto` falls back to the CPU.
    ///
    /// # Errors
    /// A message when `--device cuda` was asked for and is not usable.
    pub fn cpu_device(&self) -> Result<dl::core::Cpu, String> {
        let reason = "dl was built without the `cuda` feature";
        match self.device {
            DeviceChoice::Cuda => Err(format!("--device cuda: {reason}")),
            DeviceChoice::Auto => {
                if !self.quiet {
                    println!(
                        "device: cpu ({} threads; CUDA not used: {reason})",
                        dl::core::cpu::num_threads()
                    );
                }
                Ok(dl::core::Cpu)
            }
            DeviceChoice::Cpu => {
                if !self.quiet {
                    println!("device: cpu ({} threads)", dl::core::cpu::num_threads());
                }
                Ok(dl::core::Cpu)
            }
        }
    }
}

/// The device `--device` resolved to: the CPU backend, or (with the `cuda`
/// feature) a CUDA device. Examples written generically over
/// [`dl::core::Backend`] run on either:
///
/// ```ignore
/// # use common::cli::{Args, Picked};
/// fn train<B: dl::core::Backend>(dev: &B) { /* LeNet::<B>::init(dev, 0) ... */ }
/// let args = Args::default();
/// match args.device().unwrap() {
///     Picked::Cpu(dev) => train(&dev),
///     #[cfg(feature = "cuda")]
///     Picked::Cuda(dev) => train(&dev),
/// }
/// ```
#[derive(Clone, Debug)]
pub enum Picked {
    /// The CPU backend.
    Cpu(dl::core::Cpu),
    /// A CUDA device (feature `cuda`).
    #[cfg(feature = "cuda")]
    Cuda(dl::core::Cuda),
}

impl Args {
    /// Resolves `--device`, saying which device was picked and why (unless
    /// `--quiet`). With the `cuda` feature, `cuda` opens GPU 0 (an error
    /// when no driver or GPU is usable) and `auto` picks it when usable,
    /// else the CPU; without the feature this is [`Args::cpu_device`].
    ///
    /// # Errors
    /// A message when `--device cuda` was asked for and is not usable.
    pub fn device(&self) -> Result<Picked, String> {
        #[cfg(feature = "cuda")]
        {
            let want = match self.device {
                DeviceChoice::Cpu => return self.cpu_device().map(Picked::Cpu),
                DeviceChoice::Cuda => "cuda",
                DeviceChoice::Auto => "auto",
            };
            let (dev, why) = dl::core::cuda::Device::parse(want).map_err(|e| format!("--device {want}: {e}"))?;
            match dev {
                dl::core::cuda::Device::Cuda(c) => {
                    if !self.quiet {
                        println!("device: {why}");
                    }
                    Ok(Picked::Cuda(c))
                }
                dl::core::cuda::Device::Cpu(c) => {
                    if !self.quiet {
                        println!("device: {why}; {} threads", dl::core::cpu::num_threads());
                    }
                    Ok(Picked::Cpu(c))
                }
            }
        }
        #[cfg(not(feature = "cuda"))]
        {
            self.cpu_device().map(Picked::Cpu)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19: `--quiet=false` means not quiet; a bad value is an error.
    #[test]
    fn quiet_takes_an_optional_boolean() {
        let p = |a: &[&str]| Args::parse_from(a.iter().copied(), Args::default());
        assert!(p(&["--quiet"]).unwrap().quiet);
        assert!(p(&["--quiet=true"]).unwrap().quiet);
        assert!(!p(&["--quiet=false"]).unwrap().quiet);
        assert!(!p(&["--quiet", "--quiet=0"]).unwrap().quiet);
        assert!(matches!(p(&["--quiet=maybe"]), Err(ArgError::Invalid { .. })));
        // Issue 19: an epoch count whose step count would overflow is refused.
        assert!(matches!(
            p(&["--epochs", &usize::MAX.to_string()]),
            Err(ArgError::Invalid { .. })
        ));
        assert_eq!(p(&["--epochs", "1000000"]).unwrap().epochs, MAX_EPOCHS);
    }

    /// Issue 19: the default data directory is looked up at run time: the
    /// current directory first, then above the executable, then the
    /// checkout it was built from.
    #[test]
    fn the_data_directory_is_found_at_run_time() {
        let root = std::env::temp_dir().join(format!("dl-cli-data-{}", std::process::id()));
        let (cwd, repo, built) = (root.join("cwd"), root.join("repo"), root.join("built"));
        let exe = repo.join("target/release/examples/mnist_cnn");
        for d in [&cwd, &exe, &built.join("data/mnist")] {
            std::fs::create_dir_all(d).unwrap();
        }
        // Only the build checkout has it.
        assert_eq!(find_data_dir(&cwd, Some(&exe), &built), built.join("data/mnist"));
        // A copy next to the executable wins over the build checkout.
        std::fs::create_dir_all(repo.join("data/mnist")).unwrap();
        assert_eq!(find_data_dir(&cwd, Some(&exe), &built), repo.join("data/mnist"));
        // The current directory wins over both.
        std::fs::create_dir_all(cwd.join("data/mnist")).unwrap();
        assert_eq!(find_data_dir(&cwd, Some(&exe), &built), cwd.join("data/mnist"));
        // None: the current directory's path, for the error message.
        let empty = root.join("empty");
        assert_eq!(find_data_dir(&empty, None, &empty), empty.join("data/mnist"));
        let _ = std::fs::remove_dir_all(&root);
    }
    #[test]
    fn parses_all_options() {
        let a = Args::parse_from(
            [
                "--data",
                "/x",
                "--epochs=2",
                "--batch-size",
                "8",
                "--seed",
                "7",
                "--lr",
                "0.1",
                "--quiet",
                "--limit",
                "9",
            ],
            Args::default(),
        )
        .unwrap();
        assert_eq!((a.epochs, a.batch_size, a.seed, a.limit, a.quiet), (2, 8, 7, 9, true));
        assert_eq!(a.data, PathBuf::from("/x"));
    }
    #[test]
    fn bad_arguments_are_typed_errors() {
        let d = Args::default;
        assert_eq!(
            Args::parse_from(["--bogus"], d()),
            Err(ArgError::Unknown("--bogus".into()))
        );
        assert_eq!(
            Args::parse_from(["--epochs"], d()),
            Err(ArgError::MissingValue("--epochs".into()))
        );
        for bad in [
            ["--batch-size", "0"],
            ["--lr", "-1"],
            ["--device", "tpu"],
            ["--seed", "1e3"],
        ] {
            assert!(
                matches!(Args::parse_from(bad, d()), Err(ArgError::Invalid { .. })),
                "{bad:?}"
            );
        }
        assert!(Args::parse_from(["--device", "cuda"], d())
            .unwrap()
            .cpu_device()
            .is_err());
    }
    #[test]
    fn precision_only_where_the_example_takes_it() {
        use dl::core::amp::Precision;
        let takes = || Args {
            accepts_precision: true,
            ..Args::default()
        };
        assert_eq!(
            Args::parse_from(["--precision", "bf16"], takes()).unwrap().precision,
            Precision::Bf16
        );
        assert_eq!(
            Args::parse_from(["--precision=F16"], takes()).unwrap().precision,
            Precision::F16
        );
        assert_eq!(Args::default().precision, Precision::F32);
        assert!(matches!(
            Args::parse_from(["--precision", "fp8"], takes()),
            Err(ArgError::Invalid { .. })
        ));
        // An example that trains in f32 only refuses the flag, not ignores it.
        assert!(matches!(
            Args::parse_from(["--precision", "bf16"], Args::default()),
            Err(ArgError::Invalid { reason, .. }) if reason.contains("mnist_cnn")
        ));
    }
}
