//! Authentication (bearer JWTs), principals and password hashing.

mod hash_pool;
pub mod password;
pub mod principal;
pub mod token;

pub use password::PasswordHasher;
pub use principal::{Grant, Principal, Scope, ServiceGrant};
pub use token::{Claims, TokenIssuer, TokenVerifier};
