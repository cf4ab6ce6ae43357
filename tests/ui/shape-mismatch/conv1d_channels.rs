use dl::prelude::*;

#[network(input = [3, 50])]
pub struct Net {
    conv1: Conv1d<3, 16, 5>,
    pool: MaxPool1d<2>,
    conv2: Conv1d<8, 16, 3>,
    gap: GlobalAvgPool1d,
}

fn main() {}
