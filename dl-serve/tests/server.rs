//! The server over 127.0.0.1: answers, hostile bodies, limits (each hit
//! while another client is served), overload, reload, shutdown. Every
//! request loop is bounded in count, and every wait in time.

mod common;

use common::*;
use dl::nn::checkpoint;
use dl::prelude::*;
use dl_serve::ServeError;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const X: [f32; 4] = [0.5, -1.0, 2.0, 0.25];
/// A JSON body of one sample.
const ONE: &str = r#"{"inputs": [[1, 2, 3, 4]]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predicts_json_and_raw_with_argmax_and_probabilities() {
    let (s, addr, model) = serve_tiny::<Tiny>("predict", |_| {}).await;
    let want = direct(&model, &X);

    // One flat sample.
    let r = predict_json(addr, r#"{"inputs": [0.5, -1.0, 2.0, 0.25]}"#).await;
    assert_eq!(r.status, 200, "{r:?}");
    let j = r.json();
    assert!(close(&outputs(&r)[0], &want));
    assert_eq!(j["output_shape"], serde_json::json!([3]));
    let am = want
        .iter()
        .enumerate()
        .fold(0, |b, (i, v)| if *v > want[b] { i } else { b });
    assert_eq!(j["argmax"], serde_json::json!([am]));
    let p: Vec<Vec<f32>> = serde_json::from_value(j["probabilities"].clone()).unwrap();
    assert!((p[0].iter().sum::<f32>() - 1.0).abs() < 1e-5);
    assert_eq!(
        p[0].iter()
            .enumerate()
            .fold(0, |b, (i, v)| if *v > p[0][b] { i } else { b }),
        am
    );

    // Several samples in one request.
    let y = [1.0f32, 1.0, 1.0, 1.0];
    let r = predict_json(addr, &serde_json::json!({ "inputs": [X, y, X] }).to_string()).await;
    assert_eq!(r.status, 200, "{r:?}");
    let o = outputs(&r);
    assert_eq!(o.len(), 3);
    assert!(close(&o[0], &want) && close(&o[2], &want) && close(&o[1], &direct(&model, &y)));

    // Raw little-endian f32, two samples.
    let raw: Vec<u8> = X.iter().chain(y.iter()).flat_map(|v| v.to_le_bytes()).collect();
    let r = request(
        addr,
        "POST",
        "/v1/predict",
        &[("content-type", "application/octet-stream")],
        &raw,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let o = outputs(&r);
    assert!(close(&o[0], &want) && close(&o[1], &direct(&model, &y)));

    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_get_4xx_and_the_server_keeps_answering() {
    let (s, addr, _) = serve_tiny::<Tiny>("hostile", |cfg| {
        cfg.max_body_bytes = 64 << 10;
        cfg.max_samples = 8;
    })
    .await;
    let json = [("content-type", "application/json")];
    let raw = [("content-type", "application/octet-stream")];
    let nan: Vec<u8> = [1.0f32, f32::NAN, 0.0, 0.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        ("wrong length", &json, br#"{"inputs": [[1, 2, 3]]}"#.to_vec(), 400),
        (
            "wrong flat length",
            &json,
            br#"{"inputs": [1, 2, 3, 4, 5]}"#.to_vec(),
            400,
        ),
        ("f32 overflow", &json, br#"{"inputs": [[1, 2, 3, 1e39]]}"#.to_vec(), 400),
        ("NaN literal", &json, br#"{"inputs": [[NaN, 2, 3, 4]]}"#.to_vec(), 400),
        ("truncated JSON", &json, br#"{"inputs": [[1, 2, 3,"#.to_vec(), 400),
        ("not JSON", &json, vec![0xff, 0xfe, 0x00, 0x12], 400),
        ("empty", &json, Vec::new(), 400),
        ("unknown key", &json, br#"{"input": [[1, 2, 3, 4]]}"#.to_vec(), 400),
        (
            "too many samples",
            &json,
            format!("{{\"inputs\": [{}]}}", ["[1,2,3,4]"; 9].join(",")).into_bytes(),
            413,
        ),
        ("raw NaN", &raw, nan, 400),
        ("raw wrong length", &raw, vec![0u8; 15], 400),
        ("raw too many samples", &raw, vec![0u8; 16 * 9], 413),
        ("body over the limit", &json, vec![b' '; 65 << 10], 413),
        (
            "wrong content type",
            &[("content-type", "text/plain")],
            ONE.as_bytes().to_vec(),
            415,
        ),
        ("no content type", &[], ONE.as_bytes().to_vec(), 415),
    ];
    for (what, headers, body, code) in cases {
        let r = request(addr, "POST", "/v1/predict", headers, &body).await;
        assert_eq!(r.status, code, "{what}: {r:?}");
        let msg = r.json()["error"].as_str().unwrap().to_string();
        if code != 413 || what.contains("samples") {
            assert!(
                msg.contains("[4]"),
                "{what}: the message states the expected shape: {msg}"
            );
        }
        // The server keeps answering.
        predict_ok(addr, &X).await;
    }
    assert_eq!(request(addr, "GET", "/v1/predict", &[], b"").await.status, 405);
    assert_eq!(request(addr, "GET", "/nope", &[], b"").await.status, 404);

    // Another client is served while the 100 MB bodies come in.
    let other = tokio::spawn(async move {
        for _ in 0..20 {
            predict_ok(addr, &X).await;
        }
    });
    // 100 MB declared: refused from the headers, before any byte of it.
    let r = request_100mb(addr, true).await;
    assert_eq!(r.status, 413, "{r:?}");
    // 100 MB really sent (chunked, no length): refused at the limit.
    let r = request_100mb(addr, false).await;
    assert_eq!(r.status, 413, "{r:?}");
    other.await.unwrap();
    predict_ok(addr, &X).await;
    assert!(metric(addr, "dl_serve_responses_total{code=\"413\"}").await >= 5.0);
    stop(s).await;
}

/// Sends (or starts sending) a 100 MB body while reading the answer.
async fn request_100mb(addr: std::net::SocketAddr, declared: bool) -> Resp {
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let head = if declared {
        "POST /v1/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\n\r\n"
    } else {
        "POST /v1/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    };
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 1 << 20];
        let frame_head = format!("{:x}\r\n", chunk.len());
        for _ in 0..100 {
            if !declared {
                wr.write_all(frame_head.as_bytes()).await?;
            }
            wr.write_all(&chunk).await?;
            if !declared {
                wr.write_all(b"\r\n").await?;
            }
        }
        Ok::<(), std::io::Error>(())
    });
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if let Some(r) = parse(&out) {
                        if r.body.len() >= content_length(&r.head) {
                            break;
                        }
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("answer in time");
    writer.abort();
    parse(&out).unwrap_or_else(|| panic!("no answer: {:?}", String::from_utf8_lossy(&out)))
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_metrics_and_batches_form() {
    let (s, addr, model) = serve_tiny::<Tiny>("metrics", |cfg| {
        cfg.max_batch_size = 8;
        // Long enough that 8 requests sent together meet in one batch even on
        // a loaded machine; the batch runs as soon as it is full.
        cfg.max_delay = Duration::from_secs(2);
    })
    .await;
    assert_eq!(request(addr, "GET", "/healthz", &[], b"").await.status, 200);
    assert_eq!(request(addr, "GET", "/readyz", &[], b"").await.status, 200);
    let want = direct(&model, &X);
    let tasks: Vec<_> = (0..8)
        .map(|_| tokio::spawn(async move { predict_ok(addr, &X).await }))
        .collect();
    for t in tasks {
        assert!(close(&t.await.unwrap(), &want));
    }
    let batches = metric(addr, "dl_serve_batch_size_count").await;
    let samples = metric(addr, "dl_serve_batch_size_sum").await;
    assert_eq!(samples, 8.0);
    assert!(batches < 8.0, "8 concurrent requests ran in {batches} batches");
    assert_eq!(metric(addr, "dl_serve_request_duration_seconds_count").await, 8.0);
    assert_eq!(metric(addr, "dl_serve_queue_depth").await, 0.0);
    for name in [
        "dl_serve_rejected_total",
        "dl_serve_failed_total",
        "dl_serve_unauthorized_total",
        "dl_serve_queue_timeouts_total",
    ] {
        assert_eq!(metric(addr, name).await, 0.0, "{name}");
    }
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_gets_429_and_every_request_gets_an_answer() {
    let (s, addr, _) = serve_tiny::<SlowTiny>("overload", |cfg| {
        cfg.max_batch_size = 1;
        cfg.max_delay = Duration::ZERO;
        cfg.queue_capacity = 2;
        cfg.queue_timeout = Duration::from_secs(60);
    })
    .await;
    let codes: Vec<u16> = burst(addr, 16, ONE).await.iter().map(|r| r.status).collect();
    let ok = codes.iter().filter(|c| **c == 200).count();
    let rejected = codes.iter().filter(|c| **c == 429).count();
    assert_eq!(ok + rejected, 16, "every request is answered 200 or 429: {codes:?}");
    assert!(ok >= 1 && rejected >= 1, "{codes:?}");
    assert_eq!(metric(addr, "dl_serve_rejected_total").await, rejected as f64);
    // After the burst the server serves again.
    assert_eq!(predict_json(addr, ONE).await.status, 200);
    // A panic inside the network is a 500, counted, and the server goes on.
    let r = predict_json(addr, r#"{"inputs": [[666, 2, 3, 4]]}"#).await;
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(metric(addr, "dl_serve_failed_total").await, 1.0);
    assert_eq!(predict_json(addr, ONE).await.status, 200);
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_in_queue_limit_answers_503_while_others_are_served() {
    let (s, addr, _) = serve_tiny::<SlowTiny>("queue-timeout", |cfg| {
        cfg.max_batch_size = 1;
        cfg.max_delay = Duration::ZERO;
        // Far below the model's SLOW_MS per batch: whoever waits behind a
        // running batch times out.
        cfg.queue_timeout = Duration::from_millis(100);
    })
    .await;
    let mut codes = Vec::new();
    for r in burst(addr, 6, ONE).await {
        if r.status == 503 {
            assert!(r.json()["error"].as_str().unwrap().contains("in the queue"), "{r:?}");
        }
        codes.push(r.status);
    }
    assert!(codes.iter().all(|c| *c == 200 || *c == 503), "{codes:?}");
    assert!(codes.contains(&200) && codes.contains(&503), "{codes:?}");
    let timeouts = codes.iter().filter(|c| **c == 503).count();
    assert_eq!(metric(addr, "dl_serve_queue_timeouts_total").await, timeouts as f64);
    assert_eq!(predict_json(addr, ONE).await.status, 200);
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_body_gets_408_while_others_are_served() {
    let (s, addr, _) = serve_tiny::<Tiny>("slow-body", |cfg| {
        cfg.body_timeout = Duration::from_millis(500);
    })
    .await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        b"POST /v1/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n",
    )
    .await
    .unwrap();
    let trickle = async {
        // One byte every 100 ms: 200 bytes would take 20 s.
        for _ in 0..200 {
            if slow.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            // Others are served meanwhile.
            predict_ok(addr, &X).await;
            let mut buf = [0u8; 1024];
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await {
                return String::from_utf8_lossy(&buf[..n]).to_string();
            }
        }
        String::new()
    };
    let answer = tokio::time::timeout(Duration::from_secs(30), trickle).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    predict_ok(addr, &X).await;
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_dropped_while_others_are_served() {
    let (s, addr, _) = serve_tiny::<Tiny>("slow-head", |cfg| {
        cfg.header_timeout = Duration::from_millis(500);
    })
    .await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let head = b"POST /v1/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let trickle = async {
        for (i, b) in head.iter().enumerate() {
            if slow.write_all(&[*b]).await.is_err() {
                return Some(i);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            predict_ok(addr, &X).await;
            let mut buf = [0u8; 1024];
            if let Ok(r) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await {
                match r {
                    // Closed by the server (no answer is owed: the request
                    // never arrived).
                    Ok(0) | Err(_) => return Some(i),
                    Ok(_) => {}
                }
            }
        }
        None
    };
    let dropped_at = tokio::time::timeout(Duration::from_secs(60), trickle).await.unwrap();
    assert!(
        dropped_at.is_some_and(|i| i < head.len() - 1),
        "the slow client was not dropped"
    );
    predict_ok(addr, &X).await;
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_answers_503_while_open_connections_are_served() {
    let (s, addr, _) = serve_tiny::<Tiny>("conns", |cfg| {
        cfg.max_connections = 2;
        cfg.header_timeout = Duration::from_secs(30);
    })
    .await;
    let idle = TcpStream::connect(addr).await.unwrap();
    let mut kept = TcpStream::connect(addr).await.unwrap();
    // Wait until the server counts both connections.
    for _ in 0..200 {
        if s.metrics().connections.load(std::sync::atomic::Ordering::Relaxed) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A third connection is refused with 503.
    let r = request(addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.body.contains("too many open connections"));
    // The kept-alive connection is served meanwhile.
    let body = ONE.as_bytes();
    let req = format!(
        "POST /v1/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    kept.write_all(req.as_bytes()).await.unwrap();
    kept.write_all(body).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            let n = kept.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed");
            out.extend_from_slice(&buf[..n]);
            if let Some(r) = parse(&out) {
                if r.body.len() >= content_length(&r.head) {
                    return r;
                }
            }
        }
    };
    let r = tokio::time::timeout(Duration::from_secs(30), read).await.unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    // Once a connection closes, new ones are served again.
    drop(idle);
    let mut served = false;
    for _ in 0..100 {
        if request(addr, "GET", "/healthz", &[], b"").await.status == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served);
    assert!(
        s.metrics()
            .connections_rejected
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    drop(kept);
    stop(s).await;
}

fn token_file(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let token = "s3cret-token-0123456789abcdef".to_string();
    let p = dir.join("token");
    std::fs::write(&p, format!("{token}\n")).unwrap();
    (p, token)
}

fn sha256_hex(path: &std::path::Path) -> String {
    dl_serve::config::hex(&dl_serve::model::sha256(&std::fs::read(path).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_needs_the_token_and_refuses_bad_files_keeping_the_old_model() {
    let dir = tmp("reload");
    let (path, old) = tiny_checkpoint(&dir, "old.safetensors", 1);
    let (new_path, new) = tiny_checkpoint(&dir, "new.safetensors", 2);
    let corrupt = dir.join("corrupt.safetensors");
    let mut bytes = std::fs::read(&new_path).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&corrupt, &bytes).unwrap();
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"\xff\xff\xff\xff\xff\xff\xff\x7fnot a checkpoint").unwrap();
    let other = dir.join("other.safetensors");
    checkpoint::save(&Other::<Cpu, f32>::init(&Cpu, 3), &other).unwrap();
    let (tok_path, token) = token_file(&dir);
    let mut cfg = config(path);
    cfg.admin_token_file = Some(tok_path);
    let s = start::<Tiny>(cfg).await;
    let addr = s.local_addr();
    let want_old = direct(&old, &X);
    let want_new = direct(&new, &X);
    assert!(!close(&want_old, &want_new));
    let auth = format!("Bearer {token}");
    let reload = |body: String, auth: Option<String>| async move {
        let mut h = vec![("content-type", "application/json".to_string())];
        if let Some(a) = auth {
            h.push(("authorization", a));
        }
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        request(addr, "POST", "/admin/reload", &h, body.as_bytes()).await
    };
    let body = |p: &std::path::Path| serde_json::json!({ "path": p }).to_string();

    // No token, a wrong token, a token of another length, another scheme.
    for a in [
        None,
        Some("Bearer wrong-token-0123456789abcdef".to_string()),
        Some("Bearer x".to_string()),
        Some(format!("Basic {token}")),
    ] {
        let r = reload(body(&new_path), a).await;
        assert_eq!(r.status, 401, "{r:?}");
    }
    assert_eq!(metric(addr, "dl_serve_unauthorized_total").await, 4.0);
    assert!(close(&predict_ok(addr, &X).await, &want_old));

    // Refused files: the old model keeps serving.
    let missing = dir.join("missing.safetensors");
    for (p, why) in [
        (&corrupt, "truncated"),
        (&garbage, ""),
        (&other, "fc1.weight"),
        (&missing, ""),
    ] {
        let r = reload(body(p), Some(auth.clone())).await;
        assert_eq!(r.status, 400, "{r:?}");
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(
            msg.contains("previous model keeps serving") && msg.contains(why),
            "{msg}"
        );
        assert!(close(&predict_ok(addr, &X).await, &want_old));
    }
    // A digest that does not match.
    let r = reload(
        serde_json::json!({ "path": new_path, "sha256": "00".repeat(32) }).to_string(),
        Some(auth.clone()),
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("does not match"), "{r:?}");
    assert!(close(&predict_ok(addr, &X).await, &want_old));
    // A wrong sidecar.
    let side = dir.join("new.safetensors.sha256");
    std::fs::write(&side, format!("{}  new.safetensors\n", "11".repeat(32))).unwrap();
    let r = reload(body(&new_path), Some(auth.clone())).await;
    assert_eq!(r.status, 400, "{r:?}");
    std::fs::remove_file(&side).unwrap();
    assert_eq!(metric(addr, "dl_serve_reloads_failed_total").await, 6.0);

    // The right file with its digest: swapped in.
    let sha = sha256_hex(&new_path);
    let r = reload(
        serde_json::json!({ "path": new_path, "sha256": sha }).to_string(),
        Some(auth.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["sha256"], serde_json::json!(sha));
    assert!(close(&predict_ok(addr, &X).await, &want_new));
    assert_eq!(metric(addr, "dl_serve_reloads_total").await, 1.0);
    let m = request(addr, "GET", "/metrics", &[], b"").await.body;
    assert!(m.contains(&format!("dl_serve_model_info{{sha256=\"{sha}\"}} 1")));
    // The token never shows in the metrics.
    assert!(!m.contains(&token));
    // An empty body reloads the file being served.
    let r = reload(String::new(), Some(auth.clone())).await;
    assert_eq!(r.status, 200, "{r:?}");
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_is_disabled_without_a_token_and_pinned_reloads_refuse_other_files() {
    let dir = tmp("pinned");
    let (path, old) = tiny_checkpoint(&dir, "old.safetensors", 1);
    let (new_path, _) = tiny_checkpoint(&dir, "new.safetensors", 2);
    let s = start::<Tiny>(config(path.clone())).await;
    let r = request(s.local_addr(), "POST", "/admin/reload", &[], b"").await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body.contains("--admin-token-file"));
    stop(s).await;

    // --expect-sha256 pins the start file and reloads that give no digest.
    let (tok_path, token) = token_file(&dir);
    let mut cfg = config(path.clone());
    cfg.admin_token_file = Some(tok_path);
    cfg.expect_sha256 = Some(dl_serve::config::parse_sha256(&sha256_hex(&path)).unwrap());
    let s = start::<Tiny>(cfg).await;
    let addr = s.local_addr();
    let auth = format!("Bearer {token}");
    let r = request(
        addr,
        "POST",
        "/admin/reload",
        &[("authorization", &auth)],
        serde_json::json!({ "path": new_path }).to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("--expect-sha256"), "{r:?}");
    assert!(close(&predict_ok(addr, &X).await, &direct(&old, &X)));
    stop(s).await;

    // --require-sha256: a reload without any digest is refused.
    let mut cfg = config(path.clone());
    cfg.admin_token_file = Some(dir.join("token"));
    cfg.require_sha256 = true;
    let s = start::<Tiny>(cfg).await;
    let r = request(
        s.local_addr(),
        "POST",
        "/admin/reload",
        &[("authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("--require-sha256"), "{r:?}");
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_refuses_a_mismatched_checkpoint_with_the_report() {
    let dir = tmp("start-mismatch");
    let other = dir.join("other.safetensors");
    checkpoint::save(&Other::<Cpu, f32>::init(&Cpu, 3), &other).unwrap();
    let e = dl_serve::start::<Tiny>(config(other)).await.err().expect("refused");
    let msg = e.to_string();
    assert!(matches!(e, ServeError::Load(_)), "{msg}");
    assert!(msg.contains("shape mismatch") && msg.contains("fc1.weight"), "{msg}");
    let (path, _) = tiny_checkpoint(&dir, "m.safetensors", 1);
    let mut cfg = config(path);
    cfg.expect_sha256 = Some([7; 32]);
    let e = dl_serve::start::<Tiny>(cfg).await.err().expect("refused");
    assert!(e.to_string().contains("does not match"), "{e}");
    let mut cfg = config(dir.join("m.safetensors"));
    cfg.admin_token_file = Some(dir.join("no-such-token"));
    assert!(matches!(
        dl_serve::start::<Tiny>(cfg).await.err(),
        Some(ServeError::Token { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_every_accepted_request() {
    let (s, addr, model) = serve_tiny::<Tiny>("shutdown", |cfg| {
        cfg.max_batch_size = 64;
        // The batch waits for more requests for 3 s: shutdown starts while
        // all of them are queued.
        cfg.max_delay = Duration::from_secs(3);
        cfg.queue_timeout = Duration::from_secs(30);
    })
    .await;
    let tasks: Vec<_> = (0..8)
        .map(|_| tokio::spawn(async move { predict_ok(addr, &X).await }))
        .collect();
    let mut accepted = false;
    for _ in 0..1000 {
        if s.metrics().in_flight.load(std::sync::atomic::Ordering::Relaxed) == 8 {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(accepted, "the 8 requests were not all accepted");
    s.shutdown();
    let want = direct(&model, &X);
    for t in tasks {
        assert!(close(&t.await.unwrap(), &want));
    }
    tokio::time::timeout(Duration::from_secs(30), s.wait())
        .await
        .expect("stops");
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}

#[cfg(not(feature = "tls"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_flags_without_the_tls_feature_stop_the_start() {
    let dir = tmp("no-tls");
    let (path, _) = tiny_checkpoint(&dir, "m.safetensors", 1);
    let mut cfg = config(path);
    cfg.tls_cert = Some(dir.join("cert.pem"));
    cfg.tls_key = Some(dir.join("key.pem"));
    let e = dl_serve::start::<Tiny>(cfg).await.err().expect("refused");
    assert!(matches!(e, ServeError::Tls(_)) && e.to_string().contains("tls"), "{e}");
}
