use dl::prelude::*;

#[network]
pub struct Net {
    fc: Linear<4, 2>,
}

fn main() {}
