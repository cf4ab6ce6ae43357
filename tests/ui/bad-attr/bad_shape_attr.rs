use dl::prelude::*;

#[network(input = [4])]
pub struct Net {
    #[shape(4)]
    fc: Linear<4, 4>,
    #[shape([3])]
    fc2: Linear<4, 4>,
}

fn main() {}
