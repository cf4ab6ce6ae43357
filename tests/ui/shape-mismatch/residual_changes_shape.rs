use dl::prelude::*;

#[network(input = [8])]
pub struct Narrowing {
    fc: Linear<8, 4>,
    act: ReLU,
}

#[network(input = [8])]
pub struct Net {
    block: Residual<Narrowing>,
    head: Linear<8, 2>,
}

fn main() {}
