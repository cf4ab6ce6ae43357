//! `?` out of a `main` returning `Result<(), Box<dyn Error>>`: the framework's
//! errors print their message, not a struct dump (`scripts/downstream_check.sh`
//! runs it where the data directory is missing and checks what it prints).
use dl::prelude::*;
use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let train = load_mnist("data/mnist", Split::Train)?;
    println!("{} images", train.len());
    Ok(())
}
