//! Shared by the server tests: tiny networks, checkpoints in a temporary
//! folder, a bounded raw HTTP/1.1 client over 127.0.0.1.
#![allow(dead_code)]

use dl::core::{Backend, Float, RawParam};
use dl::nn::checkpoint;
use dl::prelude::*;
use dl_serve::{ServeConfig, ServerHandle};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The served model: a small classifier.
#[network(input = [4])]
pub struct Tiny {
    fc1: Linear<4, 8>,
    act: ReLU,
    fc2: Linear<8, 3>,
}

/// Same input, other parameter shapes: its checkpoint does not fit `Tiny`.
#[network(input = [4])]
pub struct Other {
    fc1: Linear<4, 5>,
    act: ReLU,
    fc2: Linear<5, 3>,
}

/// Sleeps `SLOW_MS` in every forward pass (a model that is slow for the
/// overload tests); panics when the first input value is 666.
pub struct Slow<B: Backend, E: Float>(PhantomData<(B, E)>);

/// Forward time of [`Slow`].
pub const SLOW_MS: u64 = 300;

impl<B: Backend, E: Float> Module<B, E> for Slow<B, E> {
    const NUM_PARAMS: usize = 0;
    fn init_with(_dev: &B, _rng: &mut Rng) -> Self {
        Slow(PhantomData)
    }
    fn visit(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &RawParam<B, E>)) {}
    fn visit_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(&str, &mut RawParam<B, E>)) {}
    fn for_each_param(&mut self, _f: &mut dyn FnMut(&mut RawParam<B, E>)) {}
}

impl<S: Shape, B: Backend, E: Float> OutputShape<S> for Slow<B, E> {
    type Out = S;
}

impl<S: Shape, B: Backend, E: Float> Layer<S, S, B, E> for Slow<B, E> {
    type Cache = ();
    fn new_cache(_dev: &B) {}
    fn forward_into(&self, x: &Tensor<S, B, E>, out: &mut Tensor<S, B, E>) {
        let v = x.to_vec();
        if v.first().map(|f| f.to_f64()) == Some(666.0) {
            panic!("the test network refuses 666");
        }
        std::thread::sleep(Duration::from_millis(SLOW_MS));
        out.copy_from(x);
    }
    fn forward_train_into(&mut self, x: &Tensor<S, B, E>, out: &mut Tensor<S, B, E>, _c: &mut ()) {
        out.copy_from(x);
    }
    fn backward_into(
        &mut self,
        _x: &Tensor<S, B, E>,
        _o: &Tensor<S, B, E>,
        _c: &mut (),
        dy: &Tensor<S, B, E>,
        dx: &mut Tensor<S, B, E>,
    ) {
        dx.copy_from(dy);
    }
}

/// `Tiny` behind a slow layer: same checkpoint names as `Tiny`'s.
#[network(input = [4])]
pub struct SlowTiny {
    slow: Slow,
    fc1: Linear<4, 8>,
    act: ReLU,
    fc2: Linear<8, 3>,
}

/// A fresh temporary folder for one test.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dl-serve-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Saves `Tiny` initialised with `seed` to `dir/name` and returns the path
/// and the model.
pub fn tiny_checkpoint(dir: &std::path::Path, name: &str, seed: u64) -> (PathBuf, Tiny) {
    let m = Tiny::<Cpu, f32>::init(&Cpu, seed);
    let p = dir.join(name);
    checkpoint::save(&m, &p).unwrap();
    (p, m)
}

/// A config for tests: port 0, quiet.
pub fn config(checkpoint: PathBuf) -> ServeConfig {
    ServeConfig {
        checkpoint,
        port: 0,
        quiet: true,
        ..ServeConfig::default()
    }
}

/// Starts `N` with `cfg`.
pub async fn start<N>(cfg: ServeConfig) -> ServerHandle
where
    N: dl::nn::Network<Cpu, f32> + Send + Sync + 'static,
{
    dl_serve::start::<N>(cfg).await.expect("server starts")
}

/// `Tiny` initialised with seed 1, saved to `m.safetensors` in a fresh
/// folder `name` and served as `N` (`Tiny`, or a network with its
/// checkpoint names) with the test [`config`] changed by `tweak`; returns
/// the server, its address and the saved model.
pub async fn serve_tiny<N>(name: &str, tweak: impl FnOnce(&mut ServeConfig)) -> (ServerHandle, SocketAddr, Tiny)
where
    N: dl::nn::Network<Cpu, f32> + Send + Sync + 'static,
{
    let (path, model) = tiny_checkpoint(&tmp(name), "m.safetensors", 1);
    let mut cfg = config(path);
    tweak(&mut cfg);
    let s = start::<N>(cfg).await;
    let addr = s.local_addr();
    (s, addr, model)
}

/// Shuts `s` down and waits until it has stopped.
pub async fn stop(s: ServerHandle) {
    s.shutdown();
    s.wait().await;
}

/// An answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Parses one HTTP/1.1 response from `raw` (content-length bodies).
pub fn parse(raw: &[u8]) -> Option<Resp> {
    let text = String::from_utf8_lossy(raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(Resp {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// One request on a fresh connection (`Connection: close`), bounded by 30 s.
pub async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await.expect("write head");
        // The server may answer (413) and close before the body is sent.
        let _ = s.write_all(body).await;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        parse(&out).unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(&out)))
    };
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("answer within 30 s")
}

/// `POST /v1/predict` with a JSON body.
pub async fn predict_json(addr: SocketAddr, body: &str) -> Resp {
    request(
        addr,
        "POST",
        "/v1/predict",
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
    .await
}

/// `n` concurrent `POST /v1/predict` of the JSON `body`; their answers.
pub async fn burst(addr: SocketAddr, n: usize, body: &'static str) -> Vec<Resp> {
    let tasks: Vec<_> = (0..n)
        .map(|_| tokio::spawn(async move { predict_json(addr, body).await }))
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

/// `POST /v1/predict` of one sample as JSON; panics unless 200; returns
/// the outputs of the sample.
pub async fn predict_ok(addr: SocketAddr, x: &[f32]) -> Vec<f32> {
    let r = predict_json(addr, &serde_json::json!({ "inputs": [x] }).to_string()).await;
    assert_eq!(r.status, 200, "{r:?}");
    outputs(&r)[0].clone()
}

/// The `outputs` of an answer.
pub fn outputs(r: &Resp) -> Vec<Vec<f32>> {
    serde_json::from_value(r.json()["outputs"].clone()).unwrap()
}

/// `GET /metrics` and the value of a line starting with `name `.
pub async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let r = request(addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(r.status, 200);
    r.body
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no metric {name} in {}", r.body))
        .trim()
        .parse()
        .unwrap()
}

/// The network's own answer for one sample.
pub fn direct<N: dl::nn::Network<Cpu, f32>>(m: &N, x: &[f32]) -> Vec<f32> {
    let t = Tensor::<N::Input, Cpu, f32>::from_slice(&Cpu, 1, x).unwrap();
    dl::nn::Layer::<N::Input, N::Output, Cpu, f32>::forward(m, &t).to_vec()
}

pub fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-5 * (1.0 + y.abs()))
}
