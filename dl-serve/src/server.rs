//! The HTTP side: routes, handlers, the accept loop with its connection
//! limit and timeouts, TLS, and graceful shutdown.

use crate::batcher::{self, BatchConfig, Job, Msg, EXPIRED, QUEUED};
use crate::config::{ConfigError, ServeConfig};
use crate::decode::{decode_json, decode_raw, expected_shape, DecodeLimits};
use crate::metrics::Metrics;
use crate::model::{self, Expect, LoadError, Runner};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use dl_core::{Cpu, Shape};
use dl_nn::Network;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Semaphore};

// `?` out of `main` prints `Error: {e:?}`: the message, not a struct dump.
dl_core::debug_as_display!(ServeError);

/// Why the server did not start or stopped with an error.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A bad setting.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The admin token file is unreadable or empty.
    #[error("admin token file {}: {msg}", .path.display())]
    Token {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the token).
        msg: String,
    },
    /// The checkpoint was refused (the message holds the load report).
    #[error("checkpoint refused: {0}")]
    Load(#[from] LoadError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The TLS certificate or key was refused, or TLS was asked for in a
    /// build without the `tls` feature.
    #[error("TLS: {0}")]
    Tls(String),
}

type Loader = Arc<dyn Fn(&Path, &Expect) -> Result<(Runner, String, usize), LoadError> + Send + Sync>;

/// Shared state of the handlers.
struct App {
    cfg: ServeConfig,
    lim: DecodeLimits,
    out_dims: &'static [usize],
    out_numel: usize,
    classifier: bool,
    queue: std::sync::mpsc::SyncSender<Msg>,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    /// SHA-256 of the admin token (compared in constant time; the token
    /// itself is not kept).
    token_digest: Option<[u8; 32]>,
    loader: Loader,
    reload_lock: tokio::sync::Mutex<()>,
    served_path: Mutex<PathBuf>,
}

/// A running server: its address, its metrics, and the way to stop it.
pub struct ServerHandle {
    addr: SocketAddr,
    tls: bool,
    shutdown: watch::Sender<bool>,
    metrics: Arc<Metrics>,
    done: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// The address it listens on (the real port when started with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether it speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Its metrics (the same values `/metrics` shows).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Starts a graceful shutdown: `/readyz` turns 503, no new connection
    /// is accepted, every accepted request is answered, then the server
    /// stops (see [`ServerHandle::wait`]).
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Waits until the server has stopped (after [`ServerHandle::shutdown`]).
    pub async fn wait(self) {
        let _ = self.done.await;
    }
}

fn log(cfg: &ServeConfig, msg: impl std::fmt::Display) {
    if !cfg.quiet {
        eprintln!("dl-serve: {msg}");
    }
}

fn read_token(path: &Path) -> Result<[u8; 32], ServeError> {
    let bad = |msg: String| ServeError::Token {
        path: path.to_path_buf(),
        msg,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if meta.len() > 4096 {
        return Err(bad("larger than 4 KiB".into()));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("not UTF-8".into()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(bad("empty".into()));
    }
    if token.len() < 16 {
        return Err(bad("shorter than 16 characters".into()));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("holds whitespace or control characters".into()));
    }
    Ok(Sha256::digest(token.as_bytes()).into())
}

#[cfg(unix)]
fn token_file_is_private(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map_or(true, |m| m.permissions().mode() & 0o077 == 0)
}

#[cfg(not(unix))]
fn token_file_is_private(_: &Path) -> bool {
    true
}

/// Loads the checkpoint, binds, and starts serving network `N` with `cfg`.
/// Prints what it does on stderr (unless `quiet`): the address and whether
/// it is reachable from other machines, whether admin endpoints are on.
///
/// # Errors
/// [`ServeError`]: a bad setting or token file, a refused checkpoint (with
/// the strict load's report), an address in use, bad TLS files.
pub async fn start<N>(cfg: ServeConfig) -> Result<ServerHandle, ServeError>
where
    N: Network<Cpu, f32> + Send + Sync + 'static,
{
    cfg.validate()?;
    let token_digest = match &cfg.admin_token_file {
        Some(p) => Some(read_token(p)?),
        None => None,
    };
    let pool = match cfg.threads {
        Some(n) => Some(Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(|i| format!("dl-serve-rayon-{i}"))
                .build()
                .map_err(|e| ConfigError(format!("--threads: {e}")))?,
        )),
        None => None,
    };
    let loader: Loader = {
        let pool = pool.clone();
        Arc::new(move |path: &Path, expect: &Expect| {
            let l = model::load::<N>(path, expect)?;
            Ok((model::runner(l.model, pool.clone()), l.sha256, l.report.loaded.len()))
        })
    };
    let (runner, sha, tensors) = {
        let (loader, path) = (loader.clone(), cfg.checkpoint.clone());
        let expect = Expect {
            request: None,
            flag: cfg.expect_sha256,
            required: false,
        };
        tokio::task::spawn_blocking(move || loader(&path, &expect))
            .await
            .map_err(|e| ServeError::Tls(format!("loader task failed: {e}")))??
    };
    let tls = make_tls(&cfg)?;
    let addr = SocketAddr::new(cfg.bind, cfg.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;

    let in_dims = <N::Input as Shape>::DIMS;
    let out_dims = <N::Output as Shape>::DIMS;
    let out_numel = <N::Output as Shape>::NUMEL;
    let classifier = cfg.classifier.unwrap_or(out_dims.len() == 1 && out_numel >= 2);
    let metrics = Arc::new(Metrics::new());
    *metrics.model_sha256.lock().unwrap_or_else(|e| e.into_inner()) = sha.clone();

    let scheme = if tls.is_some() { "https" } else { "http" };
    log(
        &cfg,
        format_args!(
            "serving {} (sha256 {sha}, {tensors} tensors loaded strictly) on {scheme}://{addr}",
            cfg.checkpoint.display()
        ),
    );
    log(
        &cfg,
        format_args!(
            "input shape {in_dims:?}, output shape {out_dims:?}{}",
            if classifier {
                ", classifier (argmax, softmax)"
            } else {
                ""
            }
        ),
    );
    if cfg.bind.is_loopback() {
        log(
            &cfg,
            format_args!(
                "bound to {} only: reachable from this machine only (--bind 0.0.0.0 to serve others)",
                cfg.bind
            ),
        );
    } else {
        log(
            &cfg,
            format_args!("bound to {}: reachable from other machines", cfg.bind),
        );
    }
    match &cfg.admin_token_file {
        Some(p) => {
            log(
                &cfg,
                format_args!("admin endpoints enabled (bearer token from {})", p.display()),
            );
            if !token_file_is_private(p) {
                log(
                    &cfg,
                    format_args!("warning: {} is readable by group or others (chmod 600 it)", p.display()),
                );
            }
        }
        None => log(&cfg, "admin endpoints disabled (no --admin-token-file)"),
    }
    log(
        &cfg,
        format_args!(
            "batching: max {} samples, max delay {} us; queue {} requests, queue timeout {} ms",
            cfg.max_batch_size,
            cfg.max_delay.as_micros(),
            cfg.queue_capacity,
            cfg.queue_timeout.as_millis()
        ),
    );

    let (queue_tx, batcher_thread) = batcher::spawn_batcher(
        runner,
        BatchConfig {
            max_batch_size: cfg.max_batch_size,
            max_delay: cfg.max_delay,
            out_numel,
            capacity: cfg.queue_capacity,
        },
        metrics.clone(),
    );
    let ready = Arc::new(AtomicBool::new(true));
    let app = Arc::new(App {
        lim: DecodeLimits {
            dims: in_dims,
            numel: <N::Input as Shape>::NUMEL,
            max_samples: cfg.max_samples,
        },
        out_dims,
        out_numel,
        classifier,
        queue: queue_tx,
        metrics: metrics.clone(),
        ready: ready.clone(),
        token_digest,
        loader,
        reload_lock: tokio::sync::Mutex::new(()),
        served_path: Mutex::new(cfg.checkpoint.clone()),
        cfg: cfg.clone(),
    });
    let router = Router::new()
        .route("/v1/predict", post(predict))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/admin/reload", post(reload))
        .fallback(not_found)
        .with_state(app);

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let tls_on = tls.is_some();
    let m = metrics.clone();
    let done = tokio::spawn(async move {
        let conns = Arc::new(Semaphore::new(cfg.max_connections));
        accept_loop(listener, router, &cfg, shutdown_rx, conns.clone(), m, tls, ready).await;
        // Every connection returns its permit when it has answered its
        // requests and closed.
        let all = u32::try_from(cfg.max_connections).unwrap_or(u32::MAX);
        if tokio::time::timeout(cfg.drain_timeout, conns.acquire_many(all))
            .await
            .is_err()
        {
            log(&cfg, "drain timeout: stopping with requests still open");
            return;
        }
        // The router (and with it the queue's sender) is gone: the batcher
        // finishes what is queued and stops.
        let _ = tokio::task::spawn_blocking(move || batcher_thread.join()).await;
        log(&cfg, "stopped");
    });
    Ok(ServerHandle {
        addr,
        tls: tls_on,
        shutdown: shutdown_tx,
        metrics,
        done,
    })
}

#[cfg(feature = "tls")]
type TlsAcceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type TlsAcceptor = std::convert::Infallible;

#[cfg(feature = "tls")]
fn make_tls(cfg: &ServeConfig) -> Result<Option<TlsAcceptor>, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let (Some(cert), Some(key)) = (&cfg.tls_cert, &cfg.tls_key) else {
        return Ok(None);
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| ServeError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!("{}: no certificate", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| ServeError::Tls(format!("{}: {e}", key.display())))?;
    // ring's provider (deprecated for lacking post-quantum key exchange)
    // builds with a C compiler alone; aws-lc-rs would need cmake and nasm.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let mut sc = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    sc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(sc))))
}

#[cfg(not(feature = "tls"))]
fn make_tls(cfg: &ServeConfig) -> Result<Option<TlsAcceptor>, ServeError> {
    if cfg.tls_cert.is_some() || cfg.tls_key.is_some() {
        return Err(ServeError::Tls(
            "this build has no TLS support (rebuild with the `tls` feature)".into(),
        ));
    }
    Ok(None)
}

/// Resolves when `rx` turns true; never when its sender is gone.
async fn stopped(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn accept_loop(
    listener: TcpListener,
    router: Router,
    cfg: &ServeConfig,
    shutdown: watch::Receiver<bool>,
    conns: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    tls: Option<TlsAcceptor>,
    ready: Arc<AtomicBool>,
) {
    let stop = stopped(shutdown.clone());
    tokio::pin!(stop);
    loop {
        let (stream, _peer) = tokio::select! {
            biased;
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(_) => {
                    // Out of file descriptors or similar: back off a little.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            metrics.connections_rejected.fetch_add(1, Ordering::Relaxed);
            if tls.is_none() {
                tokio::spawn(refuse(stream));
            }
            continue;
        };
        metrics.connections.fetch_add(1, Ordering::Relaxed);
        let (router, rx, m) = (router.clone(), shutdown.clone(), metrics.clone());
        #[allow(clippy::clone_on_copy)] // `Copy` without the `tls` feature
        let tls = tls.clone();
        let header_timeout = cfg.header_timeout;
        tokio::spawn(async move {
            match tls {
                None => drive(stream, router, header_timeout, rx).await,
                #[cfg(feature = "tls")]
                Some(acceptor) => {
                    if let Ok(Ok(s)) = tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        drive(s, router, header_timeout, rx).await;
                    }
                }
                #[cfg(not(feature = "tls"))]
                Some(never) => match never {},
            }
            m.connections.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    ready.store(false, Ordering::Release);
    log(
        cfg,
        "shutting down: no new connections; answering the accepted requests",
    );
}

/// Serves HTTP/1.1 on one connection until it closes, or until shutdown
/// (then the request being served is answered and the connection closed).
async fn drive<I>(io: I, router: Router, header_timeout: Duration, shutdown: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let conn = b.serve_connection(TokioIo::new(io), TowerToHyperService::new(router));
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stopped(shutdown) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// Answers a connection over the limit with 503 and closes it.
async fn refuse(mut s: TcpStream) {
    const BODY: &str = "{\"error\": \"too many open connections; retry later\"}\n";
    let msg = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        s.write_all(msg.as_bytes()).await?;
        s.shutdown().await?;
        // Read what the client sent (bounded) so the close is a FIN, not a
        // reset that could destroy the answer in flight.
        let mut buf = [0u8; 4096];
        while s.read(&mut buf).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}

fn json_error(status: StatusCode, msg: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": msg.into() }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn closing(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    if app.ready.load(Ordering::Acquire) {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    }
}

async fn metrics_text(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "no such endpoint: POST /v1/predict, GET /healthz, /readyz, /metrics, POST /admin/reload",
    )
}

/// Reads at most `limit` bytes of body within `timeout`: 413 above the
/// limit (declared or sent), 408 when too slow.
async fn read_body(req: Request, limit: usize, timeout: Duration) -> Result<bytes::Bytes, Response> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(closing(json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "body of {} bytes is larger than the limit of {limit} bytes",
                declared.unwrap_or(0)
            ),
        )));
    }
    match tokio::time::timeout(timeout, Limited::new(req.into_body(), limit).collect()).await {
        Err(_) => Err(closing(json_error(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {} ms", timeout.as_millis()),
        ))),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(closing(json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than the limit of {limit} bytes"),
        ))),
        Ok(Err(e)) => Err(closing(json_error(
            StatusCode::BAD_REQUEST,
            format!("could not read the body: {e}"),
        ))),
        Ok(Ok(c)) => Ok(c.to_bytes()),
    }
}

async fn predict(State(app): State<Arc<App>>, req: Request) -> Response {
    let start = Instant::now();
    let resp = predict_inner(&app, req).await;
    app.metrics.latency.observe(start.elapsed().as_secs_f64());
    app.metrics.count_code(resp.status().as_u16());
    resp
}

enum Kind {
    Json,
    Raw,
}

async fn predict_inner(app: &App, req: Request) -> Response {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    let kind = match ct.as_deref() {
        Some("application/json") => Kind::Json,
        Some("application/octet-stream") => Kind::Raw,
        other => {
            return closing(json_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type {:?} is not accepted: send application/json or application/octet-stream; {}",
                    other.unwrap_or("(none)").chars().take(60).collect::<String>(),
                    expected_shape(&app.lim)
                ),
            ));
        }
    };
    let body = match read_body(req, app.cfg.max_body_bytes, app.cfg.body_timeout).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let decoded = match kind {
        Kind::Json => decode_json(&body, &app.lim),
        Kind::Raw => decode_raw(&body, &app.lim),
    };
    drop(body);
    let decoded = match decoded {
        Ok(d) => d,
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return json_error(status, format!("{e}; {}", expected_shape(&app.lim)));
        }
    };
    let samples = decoded.samples;
    let (tx, rx) = oneshot::channel();
    let state = Arc::new(AtomicU8::new(QUEUED));
    let enqueued = Instant::now();
    let job = Job {
        data: decoded.data,
        samples,
        enqueued,
        state: state.clone(),
        reply: tx,
    };
    app.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = app.queue.try_send(Msg::Job(job)) {
        app.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
        return match e {
            std::sync::mpsc::TrySendError::Full(_) => {
                app.metrics.rejected.fetch_add(1, Ordering::Relaxed);
                let mut r = json_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "the queue is full ({} requests waiting); retry later",
                        app.cfg.queue_capacity
                    ),
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
            std::sync::mpsc::TrySendError::Disconnected(_) => {
                json_error(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
            }
        };
    }
    app.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let resp = wait_answer(app, rx, &state, enqueued, samples).await;
    app.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    resp
}

async fn wait_answer(
    app: &App,
    mut rx: oneshot::Receiver<Result<Vec<f32>, String>>,
    state: &AtomicU8,
    enqueued: Instant,
    samples: usize,
) -> Response {
    let deadline = tokio::time::Instant::from_std(enqueued + app.cfg.queue_timeout);
    let result = tokio::select! {
        r = &mut rx => r,
        _ = tokio::time::sleep_until(deadline) => {
            if state.compare_exchange(QUEUED, EXPIRED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                app.metrics.queue_timeouts.fetch_add(1, Ordering::Relaxed);
                let mut r = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("waited longer than {} ms in the queue; retry later", app.cfg.queue_timeout.as_millis()),
                );
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return r;
            }
            // The batcher took it first: the model answers.
            rx.await
        }
    };
    match result {
        Ok(Ok(out)) => answer(app, &out, samples),
        Ok(Err(e)) => {
            app.metrics.failed.fetch_add(1, Ordering::Relaxed);
            json_error(StatusCode::INTERNAL_SERVER_ERROR, format!("the model failed: {e}"))
        }
        Err(_) => {
            app.metrics.failed.fetch_add(1, Ordering::Relaxed);
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "the batcher stopped")
        }
    }
}

#[derive(serde::Serialize)]
struct PredictResponse<'a> {
    outputs: Vec<&'a [f32]>,
    output_shape: &'static [usize],
    #[serde(skip_serializing_if = "Option::is_none")]
    argmax: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilities: Option<Vec<Vec<f32>>>,
}

/// Softmax of one row, computed in f64 with the maximum subtracted.
fn softmax(row: &[f32]) -> Vec<f32> {
    let m = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x as f64));
    let e: Vec<f64> = row.iter().map(|&x| (x as f64 - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| (v / s) as f32).collect()
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

fn answer(app: &App, out: &[f32], samples: usize) -> Response {
    let rows: Vec<&[f32]> = if app.out_numel == 0 {
        vec![&[][..]; samples]
    } else {
        out.chunks(app.out_numel).collect()
    };
    let (argmax, probabilities) = if app.classifier {
        (
            Some(rows.iter().map(|r| argmax(r)).collect()),
            Some(rows.iter().map(|r| softmax(r)).collect()),
        )
    } else {
        (None, None)
    };
    let body = PredictResponse {
        outputs: rows,
        output_shape: app.out_dims,
        argmax,
        probabilities,
    };
    match serde_json::to_vec(&body) {
        Ok(b) => ([(header::CONTENT_TYPE, "application/json")], b).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the answer: {e}")),
    }
}

/// Whether the request carries the admin token (constant-time compare of
/// SHA-256 digests, so neither content nor length leaks through timing).
fn authorized(app: &App, req: &Request) -> Result<(), Response> {
    let Some(expected) = app.token_digest else {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "admin endpoints are disabled: start the server with --admin-token-file",
        ));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| -> [u8; 32] { Sha256::digest(t.trim().as_bytes()).into() });
    let ok = given.is_some_and(|g| bool::from(g.ct_eq(&expected)));
    if ok {
        return Ok(());
    }
    app.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
    let mut r = json_error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Err(r)
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReloadRequest {
    path: Option<PathBuf>,
    sha256: Option<String>,
}

async fn reload(State(app): State<Arc<App>>, req: Request) -> Response {
    let r = reload_inner(&app, req).await;
    app.metrics.count_code(r.status().as_u16());
    r
}

async fn reload_inner(app: &App, req: Request) -> Response {
    if let Err(r) = authorized(app, &req) {
        return r;
    }
    let body = match read_body(req, 64 << 10, app.cfg.body_timeout).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let rr: ReloadRequest = if body.iter().all(|b| b.is_ascii_whitespace()) {
        ReloadRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    format!("expected {{\"path\": \"...\", \"sha256\": \"hex\"}} (both optional): {e}"),
                )
            }
        }
    };
    let request_digest = match rr.sha256.as_deref().map(crate::config::parse_sha256) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => return json_error(StatusCode::BAD_REQUEST, e.0),
    };
    let _guard = app.reload_lock.lock().await;
    let path = match rr.path {
        Some(p) => p,
        None => app.served_path.lock().unwrap_or_else(|e| e.into_inner()).clone(),
    };
    let expect = Expect {
        request: request_digest,
        flag: app.cfg.expect_sha256,
        required: app.cfg.require_sha256,
    };
    let loader = app.loader.clone();
    let p = path.clone();
    let loaded = tokio::task::spawn_blocking(move || loader(&p, &expect)).await;
    let (runner, sha, tensors) = match loaded {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            app.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
            log(
                &app.cfg,
                format_args!("reload refused, the previous model keeps serving: {e}"),
            );
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("reload refused, the previous model keeps serving: {e}"),
            );
        }
        Err(e) => {
            app.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, format!("the loader failed: {e}"));
        }
    };
    let (done_tx, done_rx) = oneshot::channel();
    let queue = app.queue.clone();
    // `send` waits for room in a full queue: on a blocking thread.
    let sent = tokio::task::spawn_blocking(move || queue.send(Msg::Swap { runner, done: done_tx }).is_ok())
        .await
        .unwrap_or(false);
    if !sent || done_rx.await.is_err() {
        app.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "the batcher has stopped");
    }
    *app.served_path.lock().unwrap_or_else(|e| e.into_inner()) = path.clone();
    *app.metrics.model_sha256.lock().unwrap_or_else(|e| e.into_inner()) = sha.clone();
    app.metrics.reloads_ok.fetch_add(1, Ordering::Relaxed);
    log(&app.cfg, format_args!("reloaded {} (sha256 {sha})", path.display()));
    let body = serde_json::json!({
        "reloaded": path.display().to_string(),
        "sha256": sha,
        "tensors": tensors,
    });
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
