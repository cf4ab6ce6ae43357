use dl::prelude::*;

#[network(input = [4], dtype = f64)]
pub struct Net {
    fc: Linear<4, 2>,
}

fn main() {}
