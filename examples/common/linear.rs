//! The linear models of `regression` and `binary`, declared once: the
//! examples train them, `tests/fit_targets.rs` checks the examples'
//! targets with them.
#![allow(dead_code)] // each example uses one of them

use dl::prelude::*;

/// Linear regression on the 10 standardised features of the diabetes data.
#[network(input = [10])]
pub struct Regressor {
    fc: Linear<10, 1>,
}

/// Logistic regression: one logit from the 30 standardised features of
/// the breast-cancer data.
#[network(input = [30])]
pub struct Logistic {
    fc: Linear<30, 1>,
}
