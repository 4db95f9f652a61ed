//! Password checks for the login service, password changes by the user and
//! resets by an admin. Passwords are never logged, stored or returned; only
//! argon2id hashes are kept.

use super::PasswordService;
use crate::auth::principal::{Grant, Principal, ServiceGrant};
use crate::domain::login::{Attempt, ThrottlePolicy};
use crate::domain::{Email, Password, User};
use crate::error::{Code, Error, Reason, Result};
use crate::store::prelude::*;

fn wrong_credentials() -> Error {
    Error::new(
        Code::Unauthenticated,
        Reason::WrongCredentials,
        "the email and password do not match an active user",
    )
}

fn too_many_attempts(until: chrono::NaiveDateTime) -> Error {
    Error::new(
        Code::ResourceExhausted,
        Reason::TooManyAttempts,
        format!(
            "too many failed password checks for this email; try again after {}Z",
            until.format("%Y-%m-%dT%H:%M:%S")
        ),
    )
}

impl PasswordService {
    /// Counts one password check against `email` (before comparing, so
    /// parallel guesses cannot exceed the limit), or refuses it.
    async fn count_attempt(&self, email: &str) -> Result<()> {
        let now = self.now();
        let attempt = self
            .store
            .write(async |conn| {
                let state = conn.lock_login_throttle(email, now).await?;
                let attempt = ThrottlePolicy::default().attempt(Some(state), now);
                if let Attempt::Allowed(next) = &attempt {
                    conn.save_login_throttle(email, next).await?;
                }
                Ok::<_, Error>(attempt)
            })
            .await?;
        match attempt {
            Attempt::Allowed(_) => Ok(()),
            Attempt::Locked(until) => Err(too_many_attempts(until)),
        }
    }

    /// Compares `password` with the user's hash, or with a dummy hash when
    /// there is no active user, so both take the same time.
    async fn password_matches(&self, user: Option<&User>, password: &str) -> Result<bool> {
        match user {
            Some(user) if user.is_active() => {
                self.hasher.verify(password, &user.password_hash).await
            }
            _ => self.hasher.verify_dummy(password).await,
        }
    }

    /// After a match: clears the email's failures and, when the stored hash
    /// is weaker than the configured parameters, stores a new one.
    async fn after_match(&self, user: &User, password: &str) -> Result<()> {
        let rehash = if self.hasher.needs_rehash(&user.password_hash) {
            Some(self.hasher.hash_str(password).await?)
        } else {
            None
        };
        let now = self.now();
        self.store
            .write(async |conn| {
                conn.clear_login_throttle(&user.email).await?;
                if let Some(hash) = &rehash {
                    // Account first, as every writer of users rows does: the
                    // users trigger updates the account row.
                    conn.lock_account(&user.account_id).await?;
                    conn.set_password_hash(&user.id, hash, false, now).await?;
                }
                Ok::<_, Error>(())
            })
            .await
    }

    /// VerifyPassword: the active user these credentials belong to.
    pub async fn verify_password(
        &self,
        _: &ServiceGrant,
        email: &Email,
        password: &str,
    ) -> Result<User> {
        self.count_attempt(email.as_str()).await?;
        let user = self
            .store
            .read(async |conn| conn.find_user_by_email(email.as_str()).await)
            .await?;
        if !self.password_matches(user.as_ref(), password).await? {
            return Err(wrong_credentials());
        }
        let user = user.ok_or_else(wrong_credentials)?;
        self.after_match(&user, password).await?;
        Ok(user)
    }

    /// ChangePassword: the calling user replaces their own password. Every
    /// token issued before the change stops working, the caller's too.
    pub async fn change_password(
        &self,
        caller: &Principal,
        current: &str,
        new: &Password,
    ) -> Result<User> {
        let Principal::User { user_id, .. } = caller else {
            return Err(Error::permission_denied(
                "only a user can change their own password; services use ResetPassword",
            ));
        };
        let user = self
            .store
            .read(async |conn| conn.find_user_by_id(user_id).await)
            .await?
            .ok_or_else(Error::user_not_found)?;
        self.count_attempt(&user.email).await?;
        if !self.password_matches(Some(&user), current).await? {
            return Err(Error::invalid(
                "current_password",
                "does not match the current password",
            ));
        }
        self.set_password(&user, new).await
    }

    /// ResetPassword: an admin (or a service with users:write) sets a
    /// user's password; the user's tokens stop working and any lockout of
    /// the email is lifted.
    pub async fn reset_password(
        &self,
        grant: &Grant,
        user_id: &str,
        new: &Password,
    ) -> Result<User> {
        let account_id = grant.account_id().to_owned();
        let user = self
            .store
            .read(async |conn| conn.find_user(&account_id, user_id).await)
            .await?
            .ok_or_else(Error::user_not_found)?;
        self.set_password(&user, new).await
    }

    async fn set_password(&self, user: &User, new: &Password) -> Result<User> {
        let hash = self.hasher.hash(new).await?;
        let now = self.now();
        self.store
            .write(async |conn| {
                // Account first, as every writer of users rows does: the users
                // trigger updates the account row.
                conn.lock_account(&user.account_id).await?;
                conn.set_password_hash(&user.id, &hash, true, now).await?;
                conn.clear_login_throttle(&user.email).await?;
                conn.find_user_by_id(&user.id)
                    .await?
                    .ok_or_else(Error::user_not_found)
            })
            .await
    }
}
