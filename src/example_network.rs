//! A real network declared with [`#[network]`](crate::network), compiled
//! here so that `cargo doc` shows what the attribute generates: open
//! [`Mlp`] for its methods, [`MlpCache`] for the training cache.
//! Your own networks get the same items under their own names.
//!
//! The declaration (the network of `docs/using-dl.md`, here named `Mlp`):
//!
//! ```ignore
//! #[network(input = [64])]
//! pub struct Mlp {
//!     fc1: Linear<64, 128>,
//!     relu1: ReLU,
//!     fc2: Linear<128, 10>,
//! }
//! ```
//!
//! declares a struct generic over the backend and the element type,
//! `Mlp<B: Backend = Cpu, E: Float = f32>`, whose layers are checked
//! against each other at compile time (`Linear<64, 128>` followed by
//! `Linear<100, 10>` does not compile), and generates:
//!
//! | item | what it does | PyTorch / Keras |
//! |---|---|---|
//! | `Mlp::init(&dev, seed)` | a new network on `dev`, weights drawn from a generator seeded with `seed` | `Net()` with `torch.manual_seed(seed)` |
//! | `Mlp::SUMMARY` | per layer: name, type, output shape, parameter count (`println!("{}", <Mlp>::SUMMARY)`) | `model.summary()` |
//! | `forward(&x)` | inference pass, no cache (call `eval()` first for dropout and batch norm) | `model(x)` under `torch.no_grad()` |
//! | `forward_train(&x)` | training pass: the output and a [`MlpCache`] of what backward needs | `model(x)` with autograd on |
//! | `forward_train_with(&x, &mut cache)` | the same into a reused cache: no allocation once warm | |
//! | `backward(&mut cache, &dy)` | adds every parameter's gradient (`+=`) and returns the gradient with respect to the input | `loss.backward()` |
//! | `backward_with(&mut cache, &dy, &mut dx)` | the same into a reused `dx` | |
//! | `backward_params(&mut cache, &dy)` | parameter gradients only (skips the first layer's input gradient) | |
//! | `zero_grad()` | sets every gradient to zero | `opt.zero_grad()` |
//! | `train()`, `eval()` | training or evaluation mode (dropout, batch norm) | `model.train()`, `model.eval()` |
//! | `new_cache(&dev)` | an empty cache for `forward_train_with` | |
//!
//! It also implements [`Module`] (parameters by name, for
//! optimizers and [`checkpoint`](crate::nn::checkpoint)), [`Layer`]
//! (so a network nests in another) and [`Network`],
//! which brings [`Fit`]: `fit`, `evaluate`, `predict`.
//!
//! ```
//! use dl::example_network::Mlp;
//! use dl::prelude::*;
//! let dev = Cpu;
//! let mut model = Mlp::init(&dev, 42);
//! let x = Tensor::<S1<64>>::zeros(&dev, 3);
//! let (out, _cache) = model.forward_train(&x);
//! assert_eq!(out.shape(), [3, 10]);
//! model.eval();
//! assert_eq!(model.forward(&x).to_vec(), out.to_vec());
//! println!("{}", <Mlp>::SUMMARY);
//! ```

use crate::prelude::*;

/// A digits classifier like the one of `docs/using-dl.md`: 64 pixels, a
/// hidden layer of 128 with ReLU, 10 logits. Declared with `#[network(input = [64])]`;
/// every method below except the trait implementations' was generated.
#[network(input = [64])]
pub struct Mlp {
    fc1: Linear<64, 128>,
    relu1: ReLU,
    fc2: Linear<128, 10>,
}
