//! Parsing of the names that bindings and configuration files use for the
//! core's small enums (`"fsync"`, `"forced_open"`, ...), so every language
//! accepts the same spellings and reports a bad one in the same words.

use std::fmt;

/// A name that is not one of the accepted choices, e.g. the fault op
/// `"disk"`. Displays as "fault op must be one of read, write, fsync, rename,
/// delete, all; got 'disk'".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What the name was for, e.g. `"fault op"`.
    pub what: &'static str,
    /// The name given.
    pub got: String,
    /// The names accepted, in their documented order.
    pub choices: Vec<&'static str>,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} must be one of {}; got '{}'", self.what, self.choices.join(", "), self.got)
    }
}

impl std::error::Error for UnknownName {}

/// The candidate whose `name` is `got`, or an [`UnknownName`] listing every
/// candidate's name. Bindings that accept only some values of an enum (e.g.
/// the breaker states an operator may set) pass just those candidates.
pub fn parse_name<T: Copy>(
    what: &'static str,
    got: &str,
    candidates: impl IntoIterator<Item = T>,
    name: impl Fn(T) -> &'static str,
) -> Result<T, UnknownName> {
    let mut choices = Vec::new();
    for candidate in candidates {
        let candidate_name = name(candidate);
        if candidate_name == got {
            return Ok(candidate);
        }
        choices.push(candidate_name);
    }
    Err(UnknownName { what, got: got.to_owned(), choices })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_candidate_by_name() {
        assert_eq!(parse_name("digit", "two", [1, 2], |n| if n == 1 { "one" } else { "two" }), Ok(2));
    }

    #[test]
    fn an_unknown_name_lists_every_choice() {
        let err = parse_name("digit", "three", [1, 2], |n| if n == 1 { "one" } else { "two" }).unwrap_err();
        assert_eq!(err.choices, ["one", "two"]);
        assert_eq!(err.to_string(), "digit must be one of one, two; got 'three'");
    }

    #[test]
    fn every_enum_name_parses_back() {
        use crate::DiskPath;
        use crate::breaker::BreakerState;
        use crate::chaos::ChaosOp;
        for op in ChaosOp::ALL {
            assert_eq!(op.name().parse::<ChaosOp>(), Ok(op));
        }
        for path in DiskPath::ALL {
            assert_eq!(path.name().parse::<DiskPath>(), Ok(path));
        }
        for state in BreakerState::ALL {
            assert_eq!(state.as_str().parse::<BreakerState>(), Ok(state));
        }
        assert_eq!(
            "disk".parse::<ChaosOp>().unwrap_err().to_string(),
            "fault op must be one of read, write, fsync, rename, delete, all; got 'disk'"
        );
        assert_eq!(
            "both".parse::<DiskPath>().unwrap_err().to_string(),
            "disk path must be one of read, write; got 'both'"
        );
        assert_eq!(
            "ajar".parse::<BreakerState>().unwrap_err().to_string(),
            "breaker state must be one of closed, open, half_open, forced_open, disabled; got 'ajar'"
        );
    }
}
