//! PyO3 bindings of sturdycache (skeleton; see issue 5).
#![warn(missing_docs)]
