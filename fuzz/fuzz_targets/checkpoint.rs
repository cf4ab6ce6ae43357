//! A safetensors checkpoint from arbitrary bytes, loaded into a
//! `Linear<3, 2>` (strict and not) and as Adam state: `Ok` or `Err`, never
//! a panic; a failed load leaves the model unchanged; a state that loads
//! (validated against the model) can take a step. Seed the corpus with a file written by
//! `dl_nn::checkpoint::save_with_optimizer` for a `Linear<3, 2>` and Adam.
#![no_main]
use dl_core::{Cpu, Rng};
use dl_nn::checkpoint::{load_from_bytes, load_optimizer_from_bytes};
use dl_nn::layers::Linear;
use dl_nn::optim::{Adam, Optimizer};
use dl_nn::Module;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for strict in [false, true] {
        let mut m = Linear::<3, 2, Cpu, f32>::init(&Cpu, 0);
        let before = (m.weight.value_vec(), m.bias.value_vec());
        if load_from_bytes(&mut m, data, strict).is_err() {
            assert_eq!((m.weight.value_vec(), m.bias.value_vec()), before);
        }
    }
    let mut opt = Adam::<Cpu, f32>::default();
    let mut m = Linear::<3, 2, Cpu, f32>::init(&Cpu, 0);
    if load_optimizer_from_bytes(&mut opt, &mut m, data).is_ok() {
        assert!(opt.validate(&mut m).is_ok());
        opt.step(&mut m);
    }
});
