use dl::prelude::*;

#[network(input = [16, 10])]
pub struct Net {
    attn: MultiHeadAttention<10, 4>,
    local: LocalAttention<10, 3, 2>,
    pool: SeqMean,
}

fn main() {}
