//! madoguchi-integration (see Cargo.toml description).
