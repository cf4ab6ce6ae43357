use dl::prelude::*;

#[network(input = [4])]
pub struct Net;

fn main() {}
