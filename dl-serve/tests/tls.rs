//! HTTPS with rustls (feature `tls`), with a certificate the test makes
//! itself (rcgen): a client that trusts it is served, a plain-HTTP client
//! is not, and bad certificate files stop the start.
#![cfg(feature = "tls")]

mod common;

use common::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_a_self_made_certificate() {
    let dir = tmp("tls");
    let (path, model) = tiny_checkpoint(&dir, "m.safetensors", 1);
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let mut cfg = config(path);
    cfg.tls_cert = Some(cert.clone());
    cfg.tls_key = Some(key.clone());
    let s = start::<Tiny>(cfg).await;
    assert!(s.is_tls());
    let addr = s.local_addr();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    // The server's provider (ring); its deprecation is about post-quantum key exchange.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let x = [0.5f32, -1.0, 2.0, 0.25];
    let body = serde_json::json!({ "inputs": [x] }).to_string();
    let exchange = async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let req = format!(
            "POST /v1/predict HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        parse(&out).expect("an HTTP answer over TLS")
    };
    let r = tokio::time::timeout(Duration::from_secs(30), exchange).await.unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(close(&outputs(&r)[0], &direct(&model, &x)));

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        out
    };
    let out = tokio::time::timeout(Duration::from_secs(30), plain).await.unwrap();
    assert!(!String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    stop(s).await;

    // A key file that is not a key: the server does not start.
    let mut cfg = config(dir.join("m.safetensors"));
    cfg.tls_cert = Some(cert);
    cfg.tls_key = Some(dir.join("m.safetensors"));
    assert!(matches!(
        dl_serve::start::<Tiny>(cfg).await.err(),
        Some(dl_serve::ServeError::Tls(_))
    ));
}
