use dl::prelude::*;

#[network(input = [4])]
pub enum Net {
    A,
    B,
}

fn main() {}
