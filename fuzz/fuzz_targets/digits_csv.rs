//! The digits CSV (plain or gzip) from arbitrary bytes: `Ok` or `Err`,
//! never a panic; an `Ok` has 64 pixels in `[0, 1]` and a digit label per
//! sample.
#![no_main]
use dl_nn::data::digits::parse_digits;
use dl_nn::data::Dataset;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ds) = parse_digits("fuzz", data) {
        assert_eq!(ds.data().len(), ds.len() * 64);
        assert!(ds.data().iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(ds.labels().iter().all(|&l| l < 10));
    }
});
