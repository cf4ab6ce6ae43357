use dl::prelude::*;

// Every problem of one declaration is reported, each on its own field.
#[network(input = [3, 8, 8], batch = 32)]
pub struct Net {
    conv: Conv2d<3, 8, 3, 0>,
    attn: MultiHeadAttention<10, 4>,
    drop: Dropout<150>,
    count: u32,
}

fn main() {}
