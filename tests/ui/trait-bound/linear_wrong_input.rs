// Hand-written code (no macro) that feeds a Linear the wrong input shape
// through generic code: the `Layer` trait's `on_unimplemented` message says
// so in words.
use dl::prelude::*;

fn apply<In: Shape, Out: Shape, L: Layer<In, Out, Cpu, f32>>(layer: &L, x: &Tensor<In>) -> Tensor<Out> {
    layer.forward(x)
}

fn main() {
    let fc = Linear::<784, 10>::init(&Cpu, 0);
    let x = Tensor::<S1<700>>::zeros(&Cpu, 1);
    let y = apply::<S1<700>, S1<10>, _>(&fc, &x);
    println!("{:?}", y.shape());
}
