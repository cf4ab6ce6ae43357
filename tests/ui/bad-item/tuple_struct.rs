use dl::prelude::*;

#[network(input = [4])]
pub struct Net(Linear<4, 2>, ReLU);

fn main() {}
