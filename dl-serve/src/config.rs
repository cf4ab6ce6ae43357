//! The server's settings and their command-line flags.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the server can be told. [`ServeConfig::default`] holds the
/// documented defaults; [`ServeConfig::parse`] reads the flags.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The safetensors checkpoint served at start (`--checkpoint`).
    pub checkpoint: PathBuf,
    /// Address to bind (`--bind`, default `127.0.0.1`: loopback only).
    pub bind: IpAddr,
    /// Port (`--port`, default 8080; 0 picks a free one).
    pub port: u16,
    /// Most samples per batch (`--max-batch-size`, default 32; 1 switches
    /// batching off).
    pub max_batch_size: usize,
    /// Longest wait for a batch to fill after its first request arrived
    /// (`--max-delay-us`, default 0: a batch takes what queued up while
    /// the previous one ran, and never waits, as Triton's default).
    pub max_delay: Duration,
    /// Requests waiting for the batcher before 429 (`--queue-capacity`,
    /// default 256).
    pub queue_capacity: usize,
    /// Longest time a request may wait in the queue before 503
    /// (`--queue-timeout-ms`, default 1000).
    pub queue_timeout: Duration,
    /// Largest request body (`--max-body-bytes`, default 4 MiB; 413 above).
    pub max_body_bytes: usize,
    /// Most samples in one request (`--max-samples`, default 64; 413 above).
    pub max_samples: usize,
    /// Time to receive a request's headers (`--header-timeout-ms`, default
    /// 5000); a slower client's connection is closed. Also the idle time
    /// allowed on a kept-alive connection.
    pub header_timeout: Duration,
    /// Time to receive a request's body (`--body-timeout-ms`, default
    /// 10000; 408 when exceeded).
    pub body_timeout: Duration,
    /// Most open connections (`--max-connections`, default 256); one more
    /// is answered 503 and closed.
    pub max_connections: usize,
    /// File holding the admin bearer token (`--admin-token-file`); without
    /// it the admin endpoints are disabled.
    pub admin_token_file: Option<PathBuf>,
    /// SHA-256 the start checkpoint, and reloads that name no digest of
    /// their own, must have (`--expect-sha256 HEX`).
    pub expect_sha256: Option<[u8; 32]>,
    /// Refuse reloads without a digest (from the request, a
    /// `<file>.sha256` sidecar or `--expect-sha256`) (`--require-sha256`).
    pub require_sha256: bool,
    /// PEM certificate chain for TLS (`--tls-cert`, feature `tls`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS (`--tls-key`, feature `tls`).
    pub tls_key: Option<PathBuf>,
    /// Longest wait for in-flight requests at shutdown
    /// (`--drain-timeout-ms`, default 30000).
    pub drain_timeout: Duration,
    /// Whether to add `argmax` and `probabilities` (softmax) to answers:
    /// `None` (default) decides from the output shape (rank 1, two or more
    /// values); `--classifier` / `--no-classifier` force it.
    pub classifier: Option<bool>,
    /// Run the model on this many threads (`--threads`; default: rayon's
    /// default, all cores).
    pub threads: Option<usize>,
    /// No start-up and reload lines on stderr (`--quiet`).
    pub quiet: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            checkpoint: PathBuf::new(),
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            max_batch_size: 32,
            max_delay: Duration::ZERO,
            queue_capacity: 256,
            queue_timeout: Duration::from_millis(1000),
            max_body_bytes: 4 << 20,
            max_samples: 64,
            header_timeout: Duration::from_millis(5000),
            body_timeout: Duration::from_millis(10_000),
            max_connections: 256,
            admin_token_file: None,
            expect_sha256: None,
            require_sha256: false,
            tls_cert: None,
            tls_key: None,
            drain_timeout: Duration::from_millis(30_000),
            classifier: None,
            threads: None,
            quiet: false,
        }
    }
}

// `?` out of `main` prints `Error: {e:?}`: the message, not a struct dump.
dl_core::debug_as_display!(ConfigError);

/// A bad command line. Its text says which flag and why.
#[derive(thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The flags, one per line, with their defaults.
pub const USAGE: &str = "\
  --checkpoint PATH         safetensors checkpoint to serve (required)
  --bind ADDR               address to bind (default 127.0.0.1: this machine only)
  --port N                  port (default 8080; 0 picks a free one)
  --max-batch-size N        most samples per batch (default 32; 1 = no batching)
  --max-delay-us N          longest wait for a batch to fill (default 0: take what queued while the model ran)
  --no-batching             same as --max-batch-size 1 --max-delay-us 0
  --queue-capacity N        requests waiting before 429 (default 256)
  --queue-timeout-ms N      longest wait in the queue before 503 (default 1000)
  --max-body-bytes N        largest body before 413 (default 4194304)
  --max-samples N           most samples per request before 413 (default 64)
  --header-timeout-ms N     time to send the headers, else the connection is closed (default 5000)
  --body-timeout-ms N       time to send the body, else 408 (default 10000)
  --max-connections N       open connections before 503 (default 256)
  --admin-token-file PATH   bearer token for /admin/* (without it admin endpoints are disabled)
  --expect-sha256 HEX       checkpoint digest required at start and for reloads without their own
  --require-sha256          refuse reloads that come with no digest
  --tls-cert PATH           PEM certificate chain (HTTPS; needs the `tls` feature)
  --tls-key PATH            PEM private key (HTTPS; needs the `tls` feature)
  --drain-timeout-ms N      longest wait for in-flight requests at shutdown (default 30000)
  --classifier | --no-classifier   add argmax and softmax probabilities (default: output rank 1, >= 2 values)
  --threads N               threads for the model (default: all cores)
  --quiet                   no start-up lines on stderr
";

/// Parses a lowercase or uppercase hex SHA-256 digest.
///
/// # Errors
/// When `s` is not 64 hex digits.
pub fn parse_sha256(s: &str) -> Result<[u8; 32], ConfigError> {
    let s = s.trim();
    let bad = || {
        ConfigError(format!(
            "not a SHA-256 digest (64 hex digits): {:?}",
            s.chars().take(80).collect::<String>()
        ))
    };
    if s.len() != 64 || !s.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Lowercase hex of a digest.
pub fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

impl ServeConfig {
    /// Parses flags (without the program name) over the defaults.
    ///
    /// # Errors
    /// An unknown flag, a missing or malformed value, or no `--checkpoint`.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, ConfigError> {
        let mut c = ServeConfig::default();
        let mut have_checkpoint = false;
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (flag.clone(), None),
            };
            let mut value = |what: &str| -> Result<String, ConfigError> {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| ConfigError(format!("{name} needs {what}")))
            };
            fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, ConfigError> {
                v.parse()
                    .map_err(|_| ConfigError(format!("{name}: not a valid number: {v:?}")))
            }
            match name.as_str() {
                "--checkpoint" => {
                    c.checkpoint = value("a path")?.into();
                    have_checkpoint = true;
                }
                "--bind" => {
                    let v = value("an IP address")?;
                    c.bind = v
                        .parse()
                        .map_err(|_| ConfigError(format!("--bind: not an IP address: {v:?}")))?;
                }
                "--port" => c.port = num(&name, value("a port")?)?,
                "--max-batch-size" => c.max_batch_size = num(&name, value("a number")?)?,
                "--max-delay-us" => c.max_delay = Duration::from_micros(num(&name, value("microseconds")?)?),
                "--no-batching" => {
                    c.max_batch_size = 1;
                    c.max_delay = Duration::ZERO;
                }
                "--queue-capacity" => c.queue_capacity = num(&name, value("a number")?)?,
                "--queue-timeout-ms" => c.queue_timeout = Duration::from_millis(num(&name, value("milliseconds")?)?),
                "--max-body-bytes" => c.max_body_bytes = num(&name, value("bytes")?)?,
                "--max-samples" => c.max_samples = num(&name, value("a number")?)?,
                "--header-timeout-ms" => c.header_timeout = Duration::from_millis(num(&name, value("milliseconds")?)?),
                "--body-timeout-ms" => c.body_timeout = Duration::from_millis(num(&name, value("milliseconds")?)?),
                "--max-connections" => c.max_connections = num(&name, value("a number")?)?,
                "--admin-token-file" => c.admin_token_file = Some(value("a path")?.into()),
                "--expect-sha256" => c.expect_sha256 = Some(parse_sha256(&value("a digest")?)?),
                "--require-sha256" => c.require_sha256 = true,
                "--tls-cert" => c.tls_cert = Some(value("a path")?.into()),
                "--tls-key" => c.tls_key = Some(value("a path")?.into()),
                "--drain-timeout-ms" => c.drain_timeout = Duration::from_millis(num(&name, value("milliseconds")?)?),
                "--classifier" => c.classifier = Some(true),
                "--no-classifier" => c.classifier = Some(false),
                "--threads" => c.threads = Some(num(&name, value("a number")?)?),
                "--quiet" => c.quiet = true,
                _ => return Err(ConfigError(format!("unknown flag {flag:?}"))),
            }
        }
        if !have_checkpoint {
            return Err(ConfigError("--checkpoint PATH is required".into()));
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks the values against each other.
    ///
    /// # Errors
    /// A zero limit, or only one of the two TLS files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, v) in [
            ("--max-batch-size", self.max_batch_size),
            ("--queue-capacity", self.queue_capacity),
            ("--max-body-bytes", self.max_body_bytes),
            ("--max-samples", self.max_samples),
            ("--max-connections", self.max_connections),
        ] {
            if v == 0 {
                return Err(ConfigError(format!("{name} must be at least 1")));
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError("--tls-cert and --tls-key go together".into()));
        }
        if self.threads == Some(0) {
            return Err(ConfigError("--threads must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_flags_and_defaults() {
        let c = ServeConfig::parse(args(
            "--checkpoint m.safetensors --port 0 --max-batch-size=8 --no-classifier",
        ))
        .unwrap();
        assert_eq!(c.checkpoint, PathBuf::from("m.safetensors"));
        assert_eq!((c.port, c.max_batch_size, c.classifier), (0, 8, Some(false)));
        assert_eq!(c.bind, IpAddr::from([127, 0, 0, 1]));
        let c = ServeConfig::parse(args("--checkpoint m --no-batching")).unwrap();
        assert_eq!((c.max_batch_size, c.max_delay), (1, Duration::ZERO));
    }

    #[test]
    fn refuses_bad_flags() {
        for bad in [
            "",
            "--checkpoint",
            "--checkpoint m --port x",
            "--checkpoint m --bind localhost",
            "--checkpoint m --max-samples 0",
            "--checkpoint m --frobnicate",
            "--checkpoint m --tls-cert c.pem",
            "--checkpoint m --expect-sha256 abc",
        ] {
            assert!(ServeConfig::parse(args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn sha256_hex_round_trip() {
        let h = "00ff".repeat(16);
        assert_eq!(hex(&parse_sha256(&h).unwrap()), h);
        assert!(parse_sha256(&"zz".repeat(32)).is_err());
        assert!(parse_sha256(&"é".repeat(32)).is_err());
    }
}
