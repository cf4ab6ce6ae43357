use dl::prelude::*;

#[network(input = 784)]
pub struct A {
    fc: Linear<784, 10>,
}

#[network(input = [1, n, 28])]
pub struct B {
    fc: Linear<784, 10>,
}

#[network(input = [])]
pub struct C {
    fc: Linear<784, 10>,
}

#[network(input = [0, 4])]
pub struct D {
    fc: Linear<4, 10>,
}

fn main() {}
