//! Counters, gauges and histograms, rendered as Prometheus text (format
//! 0.0.4) by [`Metrics::render`]. Lock-free: every update is an atomic add.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Request latency bucket bounds, seconds.
const LATENCY_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];
/// Batch size bucket bounds, samples.
const BATCH_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

/// A fixed-bucket histogram. The sum is kept in millionths of the unit.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); the last one is `+Inf`.
    counts: Vec<AtomicU64>,
    sum_micro: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micro: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let i = self.bounds.iter().position(|b| v <= *b).unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_micro.fetch_add((v.max(0.0) * 1e6).round() as u64, Relaxed);
    }

    /// Total observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cum += c.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        cum += self.counts[self.bounds.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cum}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micro.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {cum}");
    }
}

/// Status codes counted per code for `/v1/predict`.
const CODES: &[u16] = &[200, 400, 401, 403, 404, 408, 413, 415, 429, 500, 503];

/// All of the server's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// `/v1/predict` latency, seconds, every answered request.
    pub latency: Histogram,
    /// Samples per batch the model ran.
    pub batch_size: Histogram,
    /// Requests waiting in the queue (not yet taken by the batcher).
    pub queue_depth: AtomicI64,
    /// Predict requests accepted and not yet answered.
    pub in_flight: AtomicI64,
    /// Open connections.
    pub connections: AtomicI64,
    /// Connections refused because `--max-connections` were open.
    pub connections_rejected: AtomicU64,
    /// Requests refused with 429 (queue full).
    pub rejected: AtomicU64,
    /// Requests answered 503 because they waited longer than
    /// `--queue-timeout-ms`.
    pub queue_timeouts: AtomicU64,
    /// Requests whose batch failed in the model (500).
    pub failed: AtomicU64,
    /// Admin calls with a missing or wrong token (401).
    pub unauthorized: AtomicU64,
    /// Successful reloads.
    pub reloads_ok: AtomicU64,
    /// Refused reloads (the old model kept serving).
    pub reloads_failed: AtomicU64,
    /// Responses by status code (predict and admin).
    codes: Vec<AtomicU64>,
    /// SHA-256 of the checkpoint being served.
    pub model_sha256: Mutex<String>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All zero.
    pub fn new() -> Self {
        Self {
            latency: Histogram::new(LATENCY_BOUNDS),
            batch_size: Histogram::new(BATCH_BOUNDS),
            queue_depth: AtomicI64::new(0),
            in_flight: AtomicI64::new(0),
            connections: AtomicI64::new(0),
            connections_rejected: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            queue_timeouts: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            codes: CODES.iter().map(|_| AtomicU64::new(0)).collect(),
            model_sha256: Mutex::new(String::new()),
        }
    }

    /// Counts a response with `code`.
    pub fn count_code(&self, code: u16) {
        if let Some(i) = CODES.iter().position(|c| *c == code) {
            self.codes[i].fetch_add(1, Relaxed);
        }
    }

    /// Responses counted with `code` so far.
    pub fn code_count(&self, code: u16) -> u64 {
        CODES
            .iter()
            .position(|c| *c == code)
            .map_or(0, |i| self.codes[i].load(Relaxed))
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(4096);
        self.latency.render(
            &mut o,
            "dl_serve_request_duration_seconds",
            "Time from reading a /v1/predict request to its answer.",
        );
        self.batch_size
            .render(&mut o, "dl_serve_batch_size", "Samples per batch run by the model.");
        let gauges: [(&str, &str, i64); 3] = [
            (
                "dl_serve_queue_depth",
                "Requests waiting for the batcher.",
                self.queue_depth.load(Relaxed),
            ),
            (
                "dl_serve_requests_in_flight",
                "Predict requests accepted and not yet answered.",
                self.in_flight.load(Relaxed),
            ),
            (
                "dl_serve_connections",
                "Open connections.",
                self.connections.load(Relaxed),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let counters: [(&str, &str, &AtomicU64); 7] = [
            (
                "dl_serve_rejected_total",
                "Requests refused with 429 because the queue was full.",
                &self.rejected,
            ),
            (
                "dl_serve_queue_timeouts_total",
                "Requests answered 503 after waiting longer than the queue timeout.",
                &self.queue_timeouts,
            ),
            (
                "dl_serve_failed_total",
                "Requests whose batch failed in the model (500).",
                &self.failed,
            ),
            (
                "dl_serve_unauthorized_total",
                "Admin calls refused with 401 (missing or wrong token).",
                &self.unauthorized,
            ),
            (
                "dl_serve_connections_rejected_total",
                "Connections refused because the connection limit was reached.",
                &self.connections_rejected,
            ),
            ("dl_serve_reloads_total", "Successful model reloads.", &self.reloads_ok),
            (
                "dl_serve_reloads_failed_total",
                "Refused model reloads (the previous model kept serving).",
                &self.reloads_failed,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Relaxed)
            );
        }
        let _ = writeln!(
            o,
            "# HELP dl_serve_responses_total Responses of /v1/predict and /admin by status code.\n# TYPE dl_serve_responses_total counter"
        );
        for (c, v) in CODES.iter().zip(&self.codes) {
            let _ = writeln!(o, "dl_serve_responses_total{{code=\"{c}\"}} {}", v.load(Relaxed));
        }
        let sha = self.model_sha256.lock().map(|s| s.clone()).unwrap_or_default();
        let _ = writeln!(
            o,
            "# HELP dl_serve_model_info The checkpoint being served.\n# TYPE dl_serve_model_info gauge\ndl_serve_model_info{{sha256=\"{sha}\"}} 1"
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::new();
        for v in [1.0, 3.0, 3.0, 2000.0] {
            m.batch_size.observe(v);
        }
        m.count_code(429);
        m.rejected.fetch_add(1, Relaxed);
        let t = m.render();
        assert!(t.contains("dl_serve_batch_size_bucket{le=\"1\"} 1\n"), "{t}");
        assert!(t.contains("dl_serve_batch_size_bucket{le=\"4\"} 3\n"));
        assert!(t.contains("dl_serve_batch_size_bucket{le=\"1024\"} 3\n"));
        assert!(t.contains("dl_serve_batch_size_bucket{le=\"+Inf\"} 4\n"));
        assert!(t.contains("dl_serve_batch_size_sum 2007\n"));
        assert!(t.contains("dl_serve_batch_size_count 4\n"));
        assert!(t.contains("dl_serve_rejected_total 1\n"));
        assert!(t.contains("dl_serve_responses_total{code=\"429\"} 1\n"));
        assert_eq!(m.code_count(429), 1);
    }
}
