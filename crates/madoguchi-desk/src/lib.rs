//! madoguchi-desk (see Cargo.toml description).
