//! Value enums spelled in one list: the `value_enum!` macro and
//! `NotAccepted`, the error of a value that is none of the spellings.

/// Defines a value enum with its spellings, in one list: `as_str`,
/// `FromStr`, `ALL` and `ACCEPTED` come from it, so a new value is one
/// line in its list and every parser, message and help text knows it.
macro_rules! value_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the order messages list them.
            #[cfg(test)]
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The spellings accepted, in the same order.
            pub const ACCEPTED: &'static [&'static str] = &[$($text),+];

            /// As git config spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::spelled::NotAccepted;

            /// Exactly one of the spellings, case included.
            fn from_str(s: &str) -> Result<$name, $crate::spelled::NotAccepted> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::spelled::NotAccepted($name::ACCEPTED)),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
// A `macro_rules!` macro without `#[macro_export]` can be re-exported
// only this far; every other item of a private module is plain `pub`.
pub(crate) use value_enum;

/// A value that is not one of the accepted spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAccepted(pub &'static [&'static str]);

impl NotAccepted {
    /// The accepted spellings, as messages list them: `a, b, c`.
    pub fn list(self) -> String {
        self.0.join(", ")
    }
}
