//! Domain types and rules: no I/O. A value of a parsed type is proof that
//! it is valid ("parse, don't validate").

pub mod access;
pub mod account;
pub mod billing;
pub mod email;
pub mod event;
pub mod job;
pub mod login;
pub mod names;
pub mod password;
pub mod permissions;
pub mod records;
pub mod seats;
pub mod user;

pub use account::{Account, LedgerEntry, LedgerKind};
pub use billing::{BillingCycle, Plan, PriceList};
pub use email::Email;
pub use event::{Event, EventType, NewEvent};
pub use job::{BulkMode, Change, Job, JobKind, JobSpec, JobState, JobUser, UserOutcome};
pub use names::{DisplayName, GroupName, RequestId, RoleName, refused_char};
pub use password::Password;
pub use permissions::Permissions;
pub use records::WorkRecord;
pub use seats::{SeatDecision, SeatPolicy};
pub use user::{AccessRole, Group, Role, User, UserStatus};

/// A fieldless enum whose variants are named in SCREAMING_SNAKE_CASE, as in
/// the protos and the database: `as_str()` and `FromStr` come from strum,
/// serde uses the same names, so no name table is written by hand.
macro_rules! named_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident,)+ }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize,
            strum::Display, strum::IntoStaticStr, strum::EnumString, strum::VariantArray,
        )]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The name, as the protos (without prefix) and the database spell it.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
    };
}
pub(crate) use named_enum;
