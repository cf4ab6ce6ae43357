// Both mismatches are reported in one compile: after fc1, fc2 is checked
// against fc1's declared output [20].
use dl::prelude::*;

#[network(input = [10])]
pub struct Net {
    fc1: Linear<11, 20>,
    relu: ReLU,
    fc2: Linear<21, 5>,
}

fn main() {}
