//! # S1: load generator for the inference server
//!
//! Starts the `mnist_cnn` network (`LeNet`, from `--checkpoint` or freshly
//! initialised: the speed does not depend on the weights) behind the
//! server on 127.0.0.1, once with dynamic batching on and once off, and
//! sends single-sample requests over keep-alive HTTP/1.1 connections at
//! each concurrency, a fixed number per run; the runs alternate between
//! the two servers (`--repeat` times each) and the medians are reported,
//! one line per setting (BENCHMARKS.md format), then a Markdown table:
//!
//! ```text
//! S1 dl batching=on concurrency=16 requests=2000 runs=3 requests_per_s=1234.5 p50_ms=1.23 p99_ms=4.56 mean_batch=11.2
//! ```
//!
//! ```sh
//! cargo run --release --example serve_load
//! cargo run --release --example serve_load -- --requests 5000 --concurrency 1,16,64 --threads 2
//! cargo run --release --example serve_load -- --url 127.0.0.1:8080 --label external   # a running server
//! ```
//! Options: `--checkpoint PATH`, `--requests N` (per run, default 2000),
//! `--concurrency LIST` (default `1,16,64`), `--max-batch-size N` (32),
//! `--max-delay-us N` (0), `--threads N` (model threads; default all
//! cores), `--json` (JSON bodies instead of raw f32), `--repeat N` (3),
//! `--url HOST:PORT`, `--forward-only` (no server: the network's time per
//! sample at batch sizes 1 to 64, which bounds what batching can gain).
//! Every request must answer 200; the run stops with an error otherwise.

#[path = "../examples/common/lenet.rs"]
mod lenet;

use dl::core::Cpu;
use dl::nn::checkpoint;
use dl::serve::ServeConfig;
use lenet::LeNet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Opts {
    checkpoint: Option<std::path::PathBuf>,
    requests: usize,
    concurrency: Vec<usize>,
    max_batch_size: usize,
    max_delay_us: u64,
    threads: Option<usize>,
    json: bool,
    url: Option<SocketAddr>,
    label: String,
    forward_only: bool,
    repeat: usize,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        checkpoint: None,
        requests: 2000,
        concurrency: vec![1, 16, 64],
        max_batch_size: 32,
        max_delay_us: 0,
        threads: None,
        json: false,
        url: None,
        label: "external".into(),
        forward_only: false,
        repeat: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut v = || it.next().ok_or(format!("{a} needs a value"));
        let num = |s: String| s.parse::<usize>().map_err(|_| format!("{a}: not a number: {s}"));
        match a.as_str() {
            "--checkpoint" => o.checkpoint = Some(v()?.into()),
            "--requests" => o.requests = num(v()?)?,
            "--concurrency" => {
                o.concurrency = v()?
                    .split(',')
                    .map(|s| s.trim().parse::<usize>().map_err(|_| format!("--concurrency: {s}")))
                    .collect::<Result<_, _>>()?
            }
            "--max-batch-size" => o.max_batch_size = num(v()?)?,
            "--max-delay-us" => o.max_delay_us = num(v()?)? as u64,
            "--threads" => o.threads = Some(num(v()?)?),
            "--json" => o.json = true,
            "--url" => {
                o.url = Some(
                    v()?.parse()
                        .map_err(|_| "--url: HOST:PORT (an IP address)".to_string())?,
                )
            }
            "--label" => o.label = v()?,
            "--forward-only" => o.forward_only = true,
            "--repeat" => o.repeat = num(v()?)?,
            _ => return Err(format!("unknown option {a}")),
        }
    }
    if o.requests == 0 || o.repeat == 0 || o.concurrency.contains(&0) {
        return Err("--requests, --repeat and --concurrency must be positive".into());
    }
    Ok(o)
}

/// One keep-alive connection: sends `body` until the shared counter
/// reaches `total`, returning each request's latency.
async fn client(
    addr: SocketAddr,
    head: Arc<Vec<u8>>,
    next: Arc<AtomicUsize>,
    total: usize,
) -> Result<Vec<Duration>, String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true).ok();
    let mut lat = Vec::new();
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    while next.fetch_add(1, Ordering::Relaxed) < total {
        let t = Instant::now();
        s.write_all(&head).await.map_err(|e| format!("write: {e}"))?;
        buf.clear();
        // Read the head, then the content-length body.
        let (head_end, len) = loop {
            let n = s.read(&mut chunk).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed".into());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let h = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                if !h.starts_with("http/1.1 200") {
                    return Err(format!("answer: {}", h.lines().next().unwrap_or("")));
                }
                let len = h
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .ok_or("no content-length")?;
                break (p + 4, len);
            }
        };
        while buf.len() < head_end + len {
            let n = s.read(&mut chunk).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        lat.push(t.elapsed());
    }
    Ok(lat)
}

fn request_bytes(json: bool) -> Vec<u8> {
    // A fixed, finite pseudo-image.
    let x: Vec<f32> = (0..784)
        .map(|i| ((i * 37 % 255) as f32 / 255.0 - 0.1307) / 0.3081)
        .collect();
    let (ct, body) = if json {
        (
            "application/json",
            serde_json::json!({ "inputs": [x] }).to_string().into_bytes(),
        )
    } else {
        (
            "application/octet-stream",
            x.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    };
    let mut r = format!(
        "POST /v1/predict HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: {ct}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(&body);
    r
}

struct Run {
    rps: f64,
    p50: f64,
    p99: f64,
}

async fn run(addr: SocketAddr, o: &Opts, concurrency: usize) -> Result<Run, String> {
    let head = Arc::new(request_bytes(o.json));
    // Warm-up: a few requests per connection, not measured.
    let warm = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(client(addr, head.clone(), warm.clone(), 4 * concurrency)))
        .collect();
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(client(addr, head.clone(), next.clone(), o.requests)))
        .collect();
    let mut lat = Vec::with_capacity(o.requests);
    for t in tasks {
        lat.extend(t.await.map_err(|e| e.to_string())??);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    Ok(Run {
        rps: lat.len() as f64 / secs,
        p50: q(0.50),
        p99: q(0.99),
    })
}

async fn scrape(addr: SocketAddr, name: &str) -> Option<f64> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    out.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// One run at `concurrency` against `addr`, with the mean batch size the
/// server's metrics saw during it (None for a server without them).
async fn measured(addr: SocketAddr, o: &Opts, concurrency: usize) -> Result<(Run, Option<f64>), String> {
    let before = (
        scrape(addr, "dl_serve_batch_size_count").await,
        scrape(addr, "dl_serve_batch_size_sum").await,
    );
    let r = run(addr, o, concurrency).await?;
    let after = (
        scrape(addr, "dl_serve_batch_size_count").await,
        scrape(addr, "dl_serve_batch_size_sum").await,
    );
    let mean = match (before, after) {
        ((Some(b0), Some(s0)), (Some(b1), Some(s1))) if b1 > b0 => Some((s1 - s0) / (b1 - b0)),
        _ => None,
    };
    Ok((r, mean))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The network alone, no server: time per sample of `forward` at each
/// batch size (median of repeated runs), on `--threads` threads. Shows how
/// much a batch can gain on this machine before any HTTP is involved.
fn forward_only(o: &Opts) -> Result<(), String> {
    use dl::core::Tensor;
    use dl::nn::Layer;
    type Input = <LeNet<Cpu, f32> as dl::nn::Network<Cpu, f32>>::Input;
    let model = LeNet::<Cpu, f32>::init(&Cpu, 0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(o.threads.unwrap_or(0))
        .build()
        .map_err(|e| e.to_string())?;
    for b in [1usize, 2, 4, 8, 16, 32, 64] {
        let data = (0..b * 784).map(|i| (i % 97) as f32 / 97.0).collect();
        let x = Tensor::<Input, Cpu, f32>::from_vec(&Cpu, b, data).map_err(|e| e.to_string())?;
        let reps = (2000 / b).max(20);
        let mut times: Vec<f64> = (0..reps)
            .map(|_| {
                let t = Instant::now();
                let y = pool.install(|| Layer::forward(&model, &x));
                std::hint::black_box(y);
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let med = times[times.len() / 2];
        println!(
            "S1-forward dl threads={} batch={b} median_ms={:.3} us_per_sample={:.1}",
            pool.current_num_threads(),
            med * 1e3,
            med * 1e6 / b as f64
        );
    }
    Ok(())
}

async fn main_async(o: Opts) -> Result<(), String> {
    if o.forward_only {
        return forward_only(&o);
    }
    let mut targets: Vec<(String, SocketAddr)> = Vec::new();
    let mut servers = Vec::new();
    let mut ckpt_tmp = None;
    if let Some(addr) = o.url {
        targets.push((o.label.clone(), addr));
    } else {
        let ckpt = match &o.checkpoint {
            Some(p) => p.clone(),
            None => {
                let p = std::env::temp_dir().join(format!("dl-serve-load-{}.safetensors", std::process::id()));
                checkpoint::save(&LeNet::<Cpu, f32>::init(&Cpu, 0), &p).map_err(|e| e.to_string())?;
                ckpt_tmp = Some(p.clone());
                p
            }
        };
        // Both servers run at once; the runs alternate between them so
        // that the machine's load drifts over both alike.
        for (label, batch, delay) in [("on", o.max_batch_size, o.max_delay_us), ("off", 1, 0)] {
            let cfg = ServeConfig {
                checkpoint: ckpt.clone(),
                port: 0,
                max_batch_size: batch,
                max_delay: Duration::from_micros(delay),
                queue_capacity: 4096,
                queue_timeout: Duration::from_secs(60),
                threads: o.threads,
                quiet: true,
                ..ServeConfig::default()
            };
            let server = dl::serve::start::<LeNet<Cpu, f32>>(cfg)
                .await
                .map_err(|e| e.to_string())?;
            targets.push((label.to_string(), server.local_addr()));
            servers.push(server);
        }
    }
    // (label, concurrency) -> runs
    let mut results: Vec<(String, usize, Vec<Run>, Vec<f64>)> = Vec::new();
    for &c in &o.concurrency {
        for (label, _) in &targets {
            results.push((label.clone(), c, Vec::new(), Vec::new()));
        }
        for _ in 0..o.repeat {
            for (label, addr) in &targets {
                let (r, mean) = measured(*addr, &o, c).await?;
                let slot = results
                    .iter_mut()
                    .find(|(l, cc, _, _)| l == label && *cc == c)
                    .expect("slot");
                slot.2.push(r);
                slot.3.extend(mean);
            }
        }
    }
    for s in servers {
        s.shutdown();
        s.wait().await;
    }
    if let Some(p) = ckpt_tmp {
        let _ = std::fs::remove_file(p);
    }
    let mut table = Vec::new();
    for (label, c, runs, means) in &results {
        let rps = median(runs.iter().map(|r| r.rps).collect());
        let p50 = median(runs.iter().map(|r| r.p50).collect());
        let p99 = median(runs.iter().map(|r| r.p99).collect());
        let mean = if means.is_empty() {
            String::new()
        } else {
            format!(" mean_batch={:.1}", median(means.clone()))
        };
        println!(
            "S1 dl batching={label} concurrency={c} requests={} runs={} requests_per_s={rps:.1} p50_ms={p50:.3} p99_ms={p99:.3}{mean}",
            o.requests,
            runs.len()
        );
        table.push((label.clone(), *c, rps, p50, p99));
    }
    println!(
        "\n(medians of {} alternating runs of {} requests each)",
        o.repeat, o.requests
    );
    println!("| batching | concurrency | requests/s | p50 ms | p99 ms |\n|---|---|---|---|---|");
    for (label, c, rps, p50, p99) in &table {
        println!("| {label} | {c} | {rps:.0} | {p50:.2} | {p99:.2} |");
    }
    let find = |label: &str, c: usize| table.iter().find(|(l, cc, ..)| l == label && *cc == c);
    if let (Some(on16), Some(off16), Some(off1)) = (find("on", 16), find("off", 16), find("off", 1)) {
        println!(
            "\nconcurrency 16: batching on/off throughput {:.2}x (target >= 2x); p99 with batching {:.2} ms = {:.2}x the single-request p50 of {:.2} ms (target < 2x)",
            on16.2 / off16.2,
            on16.4,
            on16.4 / off1.3,
            off1.3
        );
    }
    Ok(())
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("serve_load: error: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(main_async(o)) {
        eprintln!("serve_load: error: {e}");
        std::process::exit(1);
    }
}
