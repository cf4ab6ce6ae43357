//! Runs every case of a golden-vector directory (PyTorch reference vectors).
//!
//! ```sh
//! cargo run --release --example golden -- tests/golden
//! ```
//! Prints one line per case and a final `N passed, M failed`; exits non-zero
//! on any failure or unknown case kind.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = match args.as_slice() {
        [d] => std::path::PathBuf::from(d),
        _ => {
            eprintln!("usage: golden DIR   (DIR holds manifest.json and the case files)");
            std::process::exit(2);
        }
    };
    let report = match dl::nn::golden::run_dir(&dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    for (name, kind, r) in &report.results {
        match r {
            Ok(()) => println!("ok   {name} ({kind})"),
            Err(e) => println!("FAIL {name} ({kind}): {e}"),
        }
    }
    println!("{} passed, {} failed", report.passed(), report.failed());
    if report.failed() > 0 {
        std::process::exit(1);
    }
}
