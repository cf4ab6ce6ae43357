// Hand-written code (no macro) that names a wrong Conv2d output shape: the
// layer's inline `const { assert!(..) }` rejects it when the code is built.
use dl::prelude::*;

fn main() {
    let conv = Conv2d::<1, 4, 3>::init(&Cpu, 0);
    let x = Tensor::<S3<1, 8, 8>>::zeros(&Cpu, 1);
    let y: Tensor<S3<4, 7, 7>> = conv.forward(&x); // the output is [4, 6, 6]
    println!("{:?}", y.shape());
}
