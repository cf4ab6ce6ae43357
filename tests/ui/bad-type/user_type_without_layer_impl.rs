use dl::prelude::*;
use std::marker::PhantomData;

pub struct Config<B, E>(PhantomData<(B, E)>);

#[network(input = [4])]
pub struct Net {
    fc: Linear<4, 4>,
    config: Config,
}

fn main() {}
