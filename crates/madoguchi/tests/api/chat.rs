//! chat tests.
