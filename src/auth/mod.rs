//! Authentication (bearer JWTs), principals and password hashing.

pub mod password;
pub mod principal;
pub mod token;

pub use password::PasswordHasher;
pub use principal::{Grant, Principal, Scope, ServiceGrant};
pub use token::{Claims, TokenIssuer, TokenVerifier};
