//! Property test of the request decoders: arbitrary bytes (and mutated
//! valid bodies) never panic, and decoding never allocates more than the
//! limits allow, measured with a counting global allocator (peak live
//! bytes per thread during the call).

use dl_serve::decode::{decode_json, decode_raw, DecodeLimits};
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn add(n: usize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + n;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn sub(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n)));
}

// SAFETY: forwards every call to the system allocator unchanged; the
// counters are plain thread-local cells that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        add(l.size());
        // SAFETY: same layout as asked.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        sub(l.size());
        // SAFETY: `p` came from `alloc` with `l`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        sub(l.size());
        add(new);
        // SAFETY: as `GlobalAlloc::realloc` requires of the caller.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak bytes allocated (above what was live before) while `f` runs.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(|p| p.get());
    (out, peak - base)
}

const DIMS: &[usize] = &[2, 3];
const LIM: DecodeLimits = DecodeLimits {
    dims: DIMS,
    numel: 6,
    max_samples: 16,
};

/// What decoding a body may allocate: the sample buffer (bounded by the
/// sample limit and by the body's length), a copy of the body for an
/// escaped key, and a small constant for error messages.
fn bound(body_len: usize) -> usize {
    4 * (LIM.max_samples * LIM.numel).min(body_len / 2 + 1) + body_len + 4096
}

fn valid_body() -> impl Strategy<Value = Vec<u8>> {
    (1usize..20, any::<bool>()).prop_map(|(n, nested)| {
        let sample = if nested {
            "[[1,2,3],[4,5,6.5]]"
        } else {
            "[1,2,3,4,5,-6e-3]"
        };
        format!("{{\"inputs\": [{}]}}", vec![sample; n].join(",")).into_bytes()
    })
}

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        valid_body(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut b, edits, cut)| {
            for (i, v) in edits {
                let at = i.index(b.len());
                b[at] = v;
            }
            let keep = cut.index(b.len() + 1);
            b.truncate(keep.max(b.len() / 2));
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_allocation_is_bounded(body in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let (json, peak_json) = peak_of(|| decode_json(&body, &LIM));
        prop_assert!(peak_json <= bound(body.len()), "json: {peak_json} bytes for a {}-byte body", body.len());
        let (raw, peak_raw) = peak_of(|| decode_raw(&body, &LIM));
        prop_assert!(peak_raw <= bound(body.len()), "raw: {peak_raw} bytes");
        for d in [json, raw].into_iter().flatten() {
            prop_assert!(d.samples >= 1 && d.samples <= LIM.max_samples);
            prop_assert_eq!(d.data.len(), d.samples * LIM.numel);
            prop_assert!(d.data.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn mutated_json_never_panics_and_allocation_is_bounded(body in mutated()) {
        let (r, peak) = peak_of(|| decode_json(&body, &LIM));
        prop_assert!(peak <= bound(body.len()), "{peak} bytes for a {}-byte body", body.len());
        if let Ok(d) = r {
            prop_assert!(d.samples <= LIM.max_samples);
            prop_assert_eq!(d.data.len(), d.samples * LIM.numel);
        }
    }
}

#[test]
fn a_large_valid_body_stays_within_the_sample_limit() {
    // The counter sees allocations.
    let (v, p) = peak_of(|| std::hint::black_box(vec![1u8; 10_000]));
    assert!(p >= 10_000 && v.len() == 10_000, "{p}");
    // 10 000 samples, far over the limit of 16: refused after the 17th,
    // and the buffer never grew past the limit.
    let body = format!("{{\"inputs\": [{}]}}", vec!["[1,2,3,4,5,6]"; 10_000].join(",")).into_bytes();
    let (r, peak) = peak_of(|| decode_json(&body, &LIM));
    assert!(r.is_err());
    assert!(peak <= 4 * LIM.max_samples * LIM.numel + 4096, "{peak}");
    let raw = vec![0u8; 24 * 10_000];
    let (r, peak) = peak_of(|| decode_raw(&raw, &LIM));
    assert!(r.is_err());
    assert!(peak <= 4096, "{peak}");
}
