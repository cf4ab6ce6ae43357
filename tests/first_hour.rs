//! Issue 23 ("a newcomer's first hour"): what `fn main` prints for an error
//! returned with `?` is the message, not a struct dump.
use dl::nn::train::TrainError;
use dl::prelude::*;
use std::error::Error;

/// `fn main() -> Result<(), Box<dyn Error>>` prints `Error: {e:?}`: the
/// Debug form of every error type of the framework is its message.
#[test]
fn question_mark_out_of_main_prints_the_message() {
    let e = TrainError::ClassCount {
        role: "train",
        classes: 10,
        outputs: 5,
    };
    let shown = e.to_string();
    assert!(shown.contains("10 classes") && shown.contains("5 outputs"), "{shown}");
    let boxed: Box<dyn Error> = Box::new(e);
    assert_eq!(format!("{boxed:?}"), shown);
    let core = dl::core::Error::NotCompiledWithCuda;
    assert_eq!(format!("{core:?}"), core.to_string());
    let data = load_mnist("/nonexistent/mnist", Split::Train).unwrap_err();
    assert_eq!(format!("{data:?}"), data.to_string());
    // The other crates' errors a program can return from `main`.
    let dist = dl::dist::DistError::BadRoot { root: 3, world_size: 2 };
    assert_eq!(format!("{dist:?}"), dist.to_string());
    let quant = dl::nn::quant::QuantError::EmptyData;
    assert_eq!(format!("{quant:?}"), quant.to_string());
    let serve = dl::serve::ConfigError("--port: not a number".into());
    assert_eq!(format!("{serve:?}"), serve.to_string());
    // `-> dl::Result<()>` too, with the cause chain.
    let e: dl::Error = data.into();
    assert!(format!("{e:?}").starts_with(&e.to_string()), "{e:?}");
}
