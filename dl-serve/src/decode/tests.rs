use super::*;

const DIMS: &[usize] = &[2, 3];

fn lim(max_samples: usize) -> DecodeLimits {
    DecodeLimits {
        dims: DIMS,
        numel: 6,
        max_samples,
    }
}

fn json(s: &str) -> Result<Decoded, DecodeError> {
    decode_json(s.as_bytes(), &lim(4))
}

#[test]
fn flat_single_sample() {
    let d = json(r#"{"inputs": [1, 2, 3, 4, 5, 6.5]}"#).unwrap();
    assert_eq!(d.samples, 1);
    assert_eq!(d.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
}

#[test]
fn list_of_flat_and_nested_samples() {
    let d = json(r#"{"inputs": [[1,2,3,4,5,6], [[7,8,9],[10,11,12]]]}"#).unwrap();
    assert_eq!(d.samples, 2);
    assert_eq!(d.data, (1..=12).map(|x| x as f32).collect::<Vec<_>>());
}

#[test]
fn wrong_lengths_name_the_sample() {
    assert_eq!(
        json(r#"{"inputs": [[1,2,3,4,5,6], [1,2]]}"#),
        Err(DecodeError::Length {
            sample: 1,
            got: 2,
            expected: 6
        })
    );
    assert_eq!(
        json(r#"{"inputs": [1,2,3,4,5,6,7]}"#),
        Err(DecodeError::Length {
            sample: 0,
            got: 7,
            expected: 6
        })
    );
    // Two rows of two for a [2, 3] shape: the row length is wrong.
    assert!(matches!(
        json(r#"{"inputs": [[[1,2],[3,4]]]}"#),
        Err(DecodeError::Nesting { sample: 0, .. })
    ));
    // Three rows: refused at the first value too many.
    assert!(matches!(
        json(r#"{"inputs": [[[1,2,3],[4,5,6],[7,8,9]]]}"#),
        Err(DecodeError::Length { sample: 0, .. })
    ));
    // One row.
    assert!(matches!(
        json(r#"{"inputs": [[[1,2,3]]]}"#),
        Err(DecodeError::Nesting { sample: 0, .. })
    ));
    // Too deep: an array where a number belongs.
    assert!(matches!(
        json(r#"{"inputs": [[[[1],[2],[3]],[4,5,6]]]}"#),
        Err(DecodeError::Json(_))
    ));
    assert_eq!(
        json(r#"{"inputs": [[]]}"#),
        Err(DecodeError::Length {
            sample: 0,
            got: 0,
            expected: 6
        })
    );
}

#[test]
fn empty_and_malformed() {
    assert_eq!(json(r#"{"inputs": []}"#), Err(DecodeError::Empty));
    assert_eq!(json(r#"{}"#), Err(DecodeError::Empty));
    for bad in [
        "",
        "{",
        r#"{"inputs": [1,2,3"#,
        r#"{"inputs": [1,2,3,4,5,6]} x"#,
        r#"{"inputs": "abc"}"#,
        r#"{"inputs": [1,2,3,4,5,"6"]}"#,
        r#"{"inputs": [NaN,2,3,4,5,6]}"#,
        r#"{"input": [1,2,3,4,5,6]}"#,
        r#"{"inputs": [1,2,3,4,5,6], "inputs": [1,2,3,4,5,6]}"#,
        r#"[1,2,3,4,5,6]"#,
        r#"{"inputs": [[1,2,3,4,5,6], 7]}"#,
        r#"{"inputs": [1, [2]]}"#,
    ] {
        assert!(
            matches!(json(bad), Err(DecodeError::Json(_))),
            "{bad:?} -> {:?}",
            json(bad)
        );
    }
}

#[test]
fn non_finite_values() {
    // 1e39 is finite in f64 and infinite in f32.
    assert_eq!(
        json(r#"{"inputs": [1,2,3,1e39,5,6]}"#),
        Err(DecodeError::NonFinite { sample: 0, index: 3 })
    );
    // serde_json refuses 1e999 itself.
    assert!(json(r#"{"inputs": [1e999,2,3,4,5,6]}"#).is_err());
    let mut raw: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0, f32::NAN, 0.0, 0.0, 0.0, 0.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(
        decode_raw(&raw, &lim(4)),
        Err(DecodeError::NonFinite { sample: 1, index: 1 })
    );
    raw[28..32].copy_from_slice(&f32::INFINITY.to_le_bytes());
    assert!(matches!(decode_raw(&raw, &lim(4)), Err(DecodeError::NonFinite { .. })));
}

#[test]
fn sample_limit_is_413() {
    let one = "[1,2,3,4,5,6]";
    let body = format!("{{\"inputs\": [{}]}}", [one; 5].join(","));
    let e = json(&body).unwrap_err();
    assert_eq!(e, DecodeError::TooManySamples { max: 4 });
    assert_eq!(e.status(), 413);
    let raw = vec![0u8; 5 * 24];
    assert_eq!(decode_raw(&raw, &lim(4)), Err(DecodeError::TooManySamples { max: 4 }));
    assert_eq!(decode_raw(&raw[..96], &lim(4)).unwrap().samples, 4);
}

#[test]
fn raw_lengths() {
    assert_eq!(
        decode_raw(&[], &lim(4)),
        Err(DecodeError::RawLength {
            len: 0,
            sample_bytes: 24
        })
    );
    assert_eq!(
        decode_raw(&[0; 25], &lim(4)),
        Err(DecodeError::RawLength {
            len: 25,
            sample_bytes: 24
        })
    );
    let d = decode_raw(&[0; 48], &lim(4)).unwrap();
    assert_eq!((d.samples, d.data.len()), (2, 12));
    assert!(expected_shape(&lim(4)).contains("[2, 3]"));
}
