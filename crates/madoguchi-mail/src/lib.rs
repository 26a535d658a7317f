//! Email channel.
