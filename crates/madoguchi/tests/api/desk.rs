//! desk tests.
