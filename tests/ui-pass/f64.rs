// The dtype parameter: the same declaration at f64.
use dl::prelude::*;

#[network(input = [5, 8])]
pub struct SeqNet {
    emb_norm: LayerNorm<8>,
    attn: MultiHeadAttention<8, 2, true>,
    local: LocalAttention<8, 4, 1>,
    pool: SeqMean,
    fc: Linear<8, 3>,
    out: LogSoftmax,
}

#[network(input = [5])]
pub struct Tokens {
    emb: Embedding<100, 8>,
    body: SeqNet,
}

fn main() {
    let m = Tokens::<Cpu, f64>::init(&Cpu, 0);
    let y: Tensor<S1<3>, Cpu, f64> = m.forward(&Tensor::zeros(&Cpu, 2));
    assert!(y.all_finite());
}
