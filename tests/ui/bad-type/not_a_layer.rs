use dl::prelude::*;

#[network(input = [4])]
pub struct Net {
    fc: Linear<4, 4>,
    count: u32,
    weights: Vec<f32>,
    pair: (ReLU, ReLU),
    reference: &'static str,
}

fn main() {}
