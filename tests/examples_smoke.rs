//! Smoke test of the examples' code: the `mnist_mlp` example's loop on a
//! 2000-image MNIST subset, one epoch (a few seconds in the test profile).

#[allow(dead_code)]
#[path = "../examples/mnist_mlp.rs"]
mod mnist_mlp;

use mnist_mlp::common::cli::Args;

#[test]
fn mnist_mlp_learns_on_a_subset() {
    let args = Args {
        epochs: 1,
        batch_size: 64,
        lr: 0.05,
        limit: 2000,
        quiet: true,
        ..Args::default()
    };
    let acc = mnist_mlp::run(&args, &dl::core::Cpu);
    assert!(acc > 0.75, "test accuracy {acc} after one epoch on 2000 images");
}

/// Issue 19: a data error in an example's code run by a test is a test
/// failure with the message (it called `process::exit`, ending the test
/// binary).
#[test]
fn a_data_error_fails_the_test_instead_of_exiting() {
    let args = Args {
        data: std::path::PathBuf::from("/nonexistent/dl-mnist"),
        quiet: true,
        ..Args::default()
    };
    let r = std::panic::catch_unwind(|| mnist_mlp::run(&args, &dl::core::Cpu));
    let msg = r.unwrap_err().downcast::<String>().unwrap();
    assert!(
        msg.contains("mnist_mlp: error:") && msg.contains("/nonexistent/dl-mnist"),
        "{msg}"
    );
}
