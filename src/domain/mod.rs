//! Domain types and rules: no I/O. A value of a parsed type is proof that
//! it is valid ("parse, don't validate").

pub mod billing;
pub mod email;
pub mod login;
pub mod names;
pub mod password;
pub mod permissions;
pub mod records;
pub mod seats;
pub mod user;

pub use billing::{BillingCycle, Plan, PriceList};
pub use email::Email;
pub use names::{DisplayName, GroupName, RequestId, refused_char};
pub use password::Password;
pub use permissions::Permissions;
pub use seats::{SeatDecision, SeatPolicy};
pub use user::{Role, UserStatus};
