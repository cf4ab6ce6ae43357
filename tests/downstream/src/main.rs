//! A first program with `dl`: an MLP on the 8x8 digits, trained with `fit`,
//! saved, reloaded and evaluated again (docs/using-dl.md, as written).
use dl::prelude::*;
use std::sync::Arc;

/// 64 pixels -> 128 hidden units -> 10 classes.
#[network(input = [64])]
pub struct DigitsMlp {
    fc1: Linear<64, 128>,
    relu1: ReLU,
    fc2: Linear<128, 10>,
}

fn main() -> dl::Result<()> {
    let dev = Cpu;

    // 1797 images of 64 pixels, already scaled to [0, 1]; labels 0..9.
    // Shuffled once (seeded), then 1500 for training and 297 for testing.
    let all = load_digits("data/digits/digits.csv.gz")?;
    let mut order: Vec<usize> = (0..all.len()).collect();
    Rng::new(0).shuffle(&mut order);
    let (train, test) = all.subset(&order)?.split(1500)?;
    let (train, test) = (Arc::new(train), Arc::new(test));

    let mut model = DigitsMlp::init(&dev, 42);
    println!("{}", <DigitsMlp>::SUMMARY);

    let history = model.fit(
        &train,
        FitConfig::new(Adam::new(1e-3), CrossEntropy::new())
            .epochs(20)
            .batch_size(32)
            .validation(&test),
    )?;
    println!("{history}");

    let eval = model.evaluate(&test, &CrossEntropy::new(), 256)?;
    println!("test: {eval}");

    // Save the weights, load them into a fresh network, evaluate again.
    dl::nn::checkpoint::save(&model, "digits_mlp.safetensors")?;
    let mut reloaded = DigitsMlp::init(&dev, 0);
    dl::nn::checkpoint::load(&mut reloaded, "digits_mlp.safetensors", true)?;
    let again = reloaded.evaluate(&test, &CrossEntropy::new(), 256)?;
    println!("reloaded: {again}");
    Ok(())
}
