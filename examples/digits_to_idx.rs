//! # digits_to_idx: scikit-learn's 8x8 digits as an MNIST-format data set
//!
//! Writes `data/digits/digits.csv.gz` (1797 digits, 8x8, 17 grey levels)
//! into a directory as MNIST's four IDX files (`train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`, uncompressed), so that every MNIST program
//! (`--data DIR`) runs on digits it has never seen: each digit is scaled
//! to 20x20 (bilinear) and centered by its center of mass in 28x28, as
//! MNIST's were, pixels `0..=255`; every third digit is a test image
//! (599), the others train (1198). See `dl::nn::data::write_digits_as_mnist`.
//!
//! ```sh
//! cargo run --release --example digits_to_idx -- /tmp/digits-idx
//! cargo run --release --example quantize -- --data /tmp/digits-idx
//! ```
//! Arguments: `OUT_DIR [SOURCE]` (default source `data/digits/digits.csv.gz`).

use dl::nn::data::write_digits_as_mnist;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.len() > 2 || args[0].starts_with('-') {
        eprintln!("usage: digits_to_idx OUT_DIR [SOURCE (default data/digits/digits.csv.gz)]");
        std::process::exit(if args.iter().any(|a| a == "--help" || a == "-h") {
            0
        } else {
            2
        });
    }
    let src = args.get(1).map_or("data/digits/digits.csv.gz", String::as_str);
    match write_digits_as_mnist(src, &args[0]) {
        Ok((train, test)) => println!("wrote {train} training and {test} test images (28x28) to {}", args[0]),
        Err(e) => {
            eprintln!("digits_to_idx: error: {e}");
            std::process::exit(1);
        }
    }
}
