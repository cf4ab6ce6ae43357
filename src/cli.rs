//! Command-line arguments shared by the examples.
//!
//! Every example accepts `--data DIR`, `--epochs N`, `--batch-size N`,
//! `--seed N`, `--lr F`, `--device cpu|cuda|auto` and `--quiet`; a bad
//! argument is a typed [`ArgError`] that the example prints with its usage
//! before exiting with status 2 (never a panic).
//!
//! ```
//! use dl::cli::{Args, DeviceChoice};
//! let a = Args::parse_from(["--epochs", "3", "--device", "cpu"], Args::default()).unwrap();
//! assert_eq!(a.epochs, 3);
//! assert_eq!(a.device, DeviceChoice::Cpu);
//! assert!(Args::parse_from(["--epochs", "three"], Args::default()).is_err());
//! ```

use std::path::PathBuf;

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

/// A command-line argument that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
}

impl Default for Args {
    fn default() -> Self {
        Self {
            data: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist")),
            epochs: 1,
            batch_size: 64,
            seed: 42,
            lr: 0.01,
            device: DeviceChoice::Auto,
            quiet: false,
            limit: 0,
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
            const VALUED: [&str; 7] = [
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
                "--epochs" => a.epochs = num(&opt, &val)?,
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
    pub fn cpu_device(&self) -> Result<dl_core::Cpu, String> {
        let reason = "dl was built without the `cuda` feature";
        match self.device {
            DeviceChoice::Cuda => Err(format!("--device cuda: {reason}")),
            DeviceChoice::Auto => {
                if !self.quiet {
                    println!(
                        "device: cpu ({} threads; CUDA not used: {reason})",
                        dl_core::cpu::num_threads()
                    );
                }
                Ok(dl_core::Cpu)
            }
            DeviceChoice::Cpu => {
                if !self.quiet {
                    println!("device: cpu ({} threads)", dl_core::cpu::num_threads());
                }
                Ok(dl_core::Cpu)
            }
        }
    }
}

/// The device `--device` resolved to: the CPU backend, or (with the `cuda`
/// feature) a CUDA device. Examples written generically over
/// [`dl_core::Backend`] run on either:
///
/// ```no_run
/// # use dl::cli::{Args, Picked};
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
    Cpu(dl_core::Cpu),
    /// A CUDA device (feature `cuda`).
    #[cfg(feature = "cuda")]
    Cuda(dl_core::Cuda),
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
            let (dev, why) = dl_core::cuda::Device::parse(want).map_err(|e| format!("--device {want}: {e}"))?;
            match dev {
                dl_core::cuda::Device::Cuda(c) => {
                    if !self.quiet {
                        println!("device: {why}");
                    }
                    Ok(Picked::Cuda(c))
                }
                dl_core::cuda::Device::Cpu(c) => {
                    if !self.quiet {
                        println!("device: {why}; {} threads", dl_core::cpu::num_threads());
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
        assert!(matches!(
            Args::parse_from(["--batch-size", "0"], d()),
            Err(ArgError::Invalid { .. })
        ));
        assert!(matches!(
            Args::parse_from(["--lr", "-1"], d()),
            Err(ArgError::Invalid { .. })
        ));
        assert!(matches!(
            Args::parse_from(["--device", "tpu"], d()),
            Err(ArgError::Invalid { .. })
        ));
        assert!(matches!(
            Args::parse_from(["--seed", "1e3"], d()),
            Err(ArgError::Invalid { .. })
        ));
        assert!(Args::parse_from(["--device", "cuda"], d())
            .unwrap()
            .cpu_device()
            .is_err());
    }
}
