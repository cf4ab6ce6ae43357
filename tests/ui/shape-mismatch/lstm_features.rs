use dl::prelude::*;

#[network(input = [28, 28])]
pub struct Net {
    proj: Linear<28, 32>,
    lstm: LSTM<28, 64>,
    last: LastStep,
    head: Linear<64, 10>,
}

fn main() {}
