//! widget tests.
