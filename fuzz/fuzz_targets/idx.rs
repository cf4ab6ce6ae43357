//! IDX images and labels (plain or gzip) from arbitrary bytes: `Ok` or
//! `Err`, never a panic; an `Ok` holds exactly the declared data.
#![no_main]
use dl_nn::data::idx::{parse_idx_images, parse_idx_labels};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for limit in [None, Some(2)] {
        if let Ok(a) = parse_idx_images("fuzz", data, limit) {
            let items = limit.map_or(a.dims[0], |l| l.min(a.dims[0]));
            assert_eq!(a.data.len(), items * a.dims[1] * a.dims[2]);
        }
    }
    if let Ok(a) = parse_idx_labels("fuzz", data, None) {
        assert_eq!(a.data.len(), a.dims[0]);
    }
});
