//! Golden cases of this area (not implemented yet).

use super::Case;

pub(super) fn run(case: &Case) -> Result<(), String> {
    Err(format!("kind `{}` is not implemented yet", case.kind))
}
