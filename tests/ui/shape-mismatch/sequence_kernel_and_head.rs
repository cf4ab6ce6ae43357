use dl::prelude::*;

#[network(input = [1, 4])]
pub struct Net {
    conv: Conv1d<1, 4, 7>,
}

#[network(input = [20, 8])]
pub struct Head {
    gru: GRU<8, 16, 1, true>,
    last: LastStep,
    fc: Linear<16, 2>,
}

fn main() {}
