//! # dl-serve: an inference server for `dl` networks
//!
//! Serves any network `N: Network<Cpu, f32>` (every `#[network]` model)
//! from a safetensors checkpoint over HTTP/1.1:
//!
//! - `POST /v1/predict`: JSON `{"inputs": [[...], ...]}` or raw
//!   little-endian `f32` (`Content-Type: application/octet-stream`); the
//!   answer holds `outputs` and, for classifiers, `argmax` and
//!   `probabilities` (softmax);
//! - dynamic batching: a bounded queue (429 when full), batches of at most
//!   `--max-batch-size` samples cut at most `--max-delay-us` after their
//!   oldest request, a time limit in the queue (503);
//! - `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus text);
//! - `POST /admin/reload` behind a bearer token (hot swap between batches;
//!   a bad, corrupt, mismatched or wrongly hashed file is refused and the
//!   old model keeps serving);
//! - limits on body size, samples per request, header and body time,
//!   queue time and open connections; graceful shutdown on SIGTERM and
//!   ctrl-c; TLS with rustls behind the `tls` feature.
//!
//! The server only calls [`dl_nn::Layer::forward`] through
//! [`dl_nn::Network`] and loads checkpoints with [`dl_nn::checkpoint`].
//! `docs/serving.md` is the operator's page.
//!
//! ```no_run
//! # use dl_core::Cpu;
//! # fn demo<N: dl_nn::Network<Cpu, f32> + Send + Sync + 'static>() {
//! // In `main` of a program that declares network `N`:
//! std::process::exit(dl_serve::run_cli::<N>("serve", std::env::args().skip(1)));
//! # }
//! ```
#![warn(missing_docs)]

pub mod batcher;
pub mod config;
pub mod decode;
pub mod metrics;
pub mod model;
pub mod server;

pub use config::{ConfigError, ServeConfig, USAGE};
pub use server::{start, ServeError, ServerHandle};

use dl_core::Cpu;
use dl_nn::Network;

/// Resolves on ctrl-c or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// The whole command-line server for network `N`: parses `args` (the flags
/// of [`USAGE`], without the program name), serves until SIGTERM or
/// ctrl-c, drains, and returns the exit code: 0 after a clean shutdown, 1
/// when the server could not start (the reason, such as the checkpoint's
/// load report, is printed), 2 for a bad command line.
pub fn run_cli<N>(program: &str, args: impl IntoIterator<Item = String>) -> i32
where
    N: Network<Cpu, f32> + Send + Sync + 'static,
{
    let args: Vec<String> = args.into_iter().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: {program} --checkpoint PATH [flags]\n\n{USAGE}");
        return 0;
    }
    let cfg = match ServeConfig::parse(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{program}: error: {e}\nusage: {program} --checkpoint PATH [flags]\n\n{USAGE}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{program}: error: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        let server = match start::<N>(cfg).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{program}: error: {e}");
                return 1;
            }
        };
        shutdown_signal().await;
        server.shutdown();
        server.wait().await;
        0
    })
}
