//! Enumerations written as strings (API fields, database columns, bus payloads).
//!
//! Each such enum is defined inside [`wire_enum!`], which derives strum's
//! `IntoStaticStr`, `EnumString` and `VariantArray` (spelled as its serde attributes
//! spell it) and gives it the `as_str` / `parse` pair the code calls. Every crate's unit tests pin each enum's
//! strings with [`assert_wire_strings`], so a spelling can never drift from the one
//! API.md and the stored rows use.

/// Defines an enum written as strings: strum's `IntoStaticStr`, `EnumString` and
/// `VariantArray` derives (spell its strings with `#[strum(serialize_all = …)]` or
/// `#[strum(serialize = …)]`, as its serde attributes do), and the `as_str(self)` /
/// `parse(&str)` pair the code calls.
#[macro_export]
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident),+ $(,)?
        }
    ) => {
        #[derive(::strum::IntoStaticStr, ::strum::EnumString, ::strum::VariantArray)]
        $(#[$meta])*
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The string this value is written as.
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            /// The value written as `s` (exactly, case included).
            pub fn parse(s: &str) -> Option<Self> {
                s.parse().ok()
            }
        }
    };
}

/// What [`wire_enum!`] and the assertions below need of an enum: strum's three
/// derives (and `Copy`, `PartialEq`, `Debug`).
pub trait WireEnum:
    strum::VariantArray + Copy + PartialEq + std::fmt::Debug + Into<&'static str> + std::str::FromStr
{
}

impl<T> WireEnum for T where
    T: strum::VariantArray
        + Copy
        + PartialEq
        + std::fmt::Debug
        + Into<&'static str>
        + std::str::FromStr
{
}

/// Asserts that `T`'s variants, in order, are written as `expected` and that each
/// string parses back. For the unit tests of each crate.
pub fn assert_wire_strings<T: WireEnum>(expected: &[&str]) {
    let written: Vec<&'static str> = T::VARIANTS.iter().map(|v| (*v).into()).collect();
    assert_eq!(written, expected, "{}", std::any::type_name::<T>());
    for v in T::VARIANTS {
        let s: &'static str = (*v).into();
        assert!(s.parse::<T>().ok() == Some(*v), "{s:?} does not parse back");
    }
}

/// [`assert_wire_strings`], and serde writes each variant as the same string.
pub fn assert_wire_and_serde_strings<T: WireEnum + serde::Serialize>(expected: &[&str]) {
    assert_wire_strings::<T>(expected);
    for v in T::VARIANTS {
        let s: &'static str = (*v).into();
        let json = serde_json::Value::String(s.to_owned());
        assert_eq!(
            serde_json::to_value(v).ok(),
            Some(json),
            "serde writes {v:?}"
        );
    }
}
