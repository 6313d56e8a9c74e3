//! `Fail`, the error of every subcommand: the exit code (1 not found, problems found,
//! refused or declined; 2 anything else) and the one-line message `main` prints.

use shm_store::StoreError;
use std::io;

/// A failure: the exit code and the one-line message.
pub(crate) struct Fail {
    pub(crate) code: u8,
    pub(crate) msg: String,
}

impl Fail {
    pub(crate) fn not_found(msg: impl Into<String>) -> Fail {
        Fail {
            code: 1,
            msg: msg.into(),
        }
    }
    pub(crate) fn other(msg: impl Into<String>) -> Fail {
        Fail {
            code: 2,
            msg: msg.into(),
        }
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Fail {
        match e {
            // Found and repaired: reported like a miss, with the reason.
            StoreError::Damaged { .. } | StoreError::Corrupt { .. } => {
                Fail::not_found(e.to_string())
            }
            e => Fail::other(e.to_string()),
        }
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Fail {
        Fail::other(e.to_string())
    }
}

pub(crate) type Res<T = ()> = Result<T, Fail>;

pub(crate) fn key_not_found(key: &str, name: &str) -> Fail {
    Fail::not_found(format!("key {key:?} not found in store {name}"))
}
