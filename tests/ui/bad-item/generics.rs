use dl::prelude::*;

#[network(input = [4])]
pub struct Net<T> {
    fc: Linear<4, 2>,
    x: std::marker::PhantomData<T>,
}

fn main() {}
