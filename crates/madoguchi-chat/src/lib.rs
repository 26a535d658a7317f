//! madoguchi-chat (see Cargo.toml description).
