//! Who is calling, and what they may do.

use crate::error::{Error, Result};

/// Scopes a service token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// CreateAccount.
    AccountsCreate,
    /// Every read: users, groups, seats, ledger, records, jobs, events.
    UsersRead,
    /// Every user, group, job and password write.
    UsersWrite,
    /// RegisterWorkRecords.
    RecordsWrite,
    /// Plan, seats, seat policy, recalculation and rollover.
    BillingWrite,
    /// VerifyPassword.
    PasswordsVerify,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::AccountsCreate => "accounts:create",
            Scope::UsersRead => "users:read",
            Scope::UsersWrite => "users:write",
            Scope::RecordsWrite => "records:write",
            Scope::BillingWrite => "billing:write",
            Scope::PasswordsVerify => "passwords:verify",
        }
    }

    pub const ALL: [Scope; 6] = [
        Scope::AccountsCreate,
        Scope::UsersRead,
        Scope::UsersWrite,
        Scope::RecordsWrite,
        Scope::BillingWrite,
        Scope::PasswordsVerify,
    ];
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An active user, checked against the database on this call.
    User {
        user_id: String,
        account_id: String,
        is_admin: bool,
    },
    /// A trusted service.
    Service { name: String, scopes: Vec<String> },
}

/// Proof that a caller may act on one account: made only by
/// [`Principal::authorize`] and taken by every use case that acts on an
/// account, so a call is authorized once, by its adapter, before anything
/// else is looked at (the adapter knows the access each RPC needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    account_id: String,
    actor: String,
}

impl Grant {
    /// The account the call acts on (the caller's own when it named none).
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The actor recorded in the ledger and events.
    pub fn actor(&self) -> String {
        self.actor.clone()
    }
}

/// Proof that a trusted service may make a call that is not tied to one
/// account: made by [`Principal::require_service_scope`] for callers, and
/// by [`ServiceGrant::own_task`] for what the process runs by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceGrant {
    actor: String,
}

impl ServiceGrant {
    /// A task of this process (the billing-period clock, `roster
    /// bootstrap`), recorded as the service `name`.
    pub fn own_task(name: &str) -> ServiceGrant {
        ServiceGrant {
            actor: Principal::Service {
                name: name.to_owned(),
                scopes: Vec::new(),
            }
            .actor(),
        }
    }

    /// The actor recorded in the ledger and events.
    pub fn actor(&self) -> String {
        self.actor.clone()
    }
}

/// What a call needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Members and admins of the account; services with `users:read`.
    Read,
    /// Admins of the account; services with the given scope.
    Write(Scope),
    /// Services with the given scope only.
    ServiceOnly(Scope),
}

impl Principal {
    /// The actor recorded in the ledger and events.
    pub fn actor(&self) -> String {
        match self {
            Principal::User { user_id, .. } => user_id.clone(),
            Principal::Service { name, .. } => format!("service:{name}"),
        }
    }

    fn has_scope(&self, scope: Scope) -> bool {
        match self {
            Principal::Service { scopes, .. } => scopes.iter().any(|s| s == scope.as_str()),
            Principal::User { .. } => false,
        }
    }

    /// Resolves the account a call acts on and checks the caller may do
    /// `access` there. An empty `requested` means the caller's own account.
    /// A user naming another account gets NOT_FOUND, exactly as if the
    /// account did not exist.
    pub fn authorize(&self, requested: &str, access: Access) -> Result<Grant> {
        let account_id = self.account_to_act_on(requested, access)?;
        Ok(Grant {
            account_id,
            actor: self.actor(),
        })
    }

    fn account_to_act_on(&self, requested: &str, access: Access) -> Result<String> {
        match self {
            Principal::User {
                account_id,
                is_admin,
                ..
            } => {
                if !requested.is_empty() && requested != account_id {
                    return Err(Error::account_not_found());
                }
                match access {
                    Access::Read => {}
                    Access::Write(_) if *is_admin => {}
                    Access::Write(_) => {
                        return Err(Error::permission_denied(
                            "only an admin of the account may do this",
                        ));
                    }
                    Access::ServiceOnly(_) => {
                        return Err(Error::permission_denied(
                            "only a trusted service may do this",
                        ));
                    }
                }
                Ok(account_id.clone())
            }
            Principal::Service { .. } => {
                let needed = match access {
                    Access::Read => Scope::UsersRead,
                    Access::Write(scope) | Access::ServiceOnly(scope) => scope,
                };
                if !self.has_scope(needed) {
                    return Err(Error::permission_denied(format!(
                        "the service token lacks the scope {:?}",
                        needed.as_str()
                    )));
                }
                if requested.is_empty() {
                    return Err(Error::invalid("account_id", "required for service callers"));
                }
                Ok(requested.to_owned())
            }
        }
    }

    /// For calls that are not tied to an account (CreateAccount,
    /// VerifyPassword, RollOverBillingPeriods): a service with the scope.
    pub fn require_service_scope(&self, scope: Scope) -> Result<ServiceGrant> {
        if self.has_scope(scope) {
            Ok(ServiceGrant {
                actor: self.actor(),
            })
        } else {
            Err(Error::permission_denied(format!(
                "needs a service token with the scope {:?}",
                scope.as_str()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    fn member() -> Principal {
        Principal::User {
            user_id: "u1".into(),
            account_id: "a1".into(),
            is_admin: false,
        }
    }

    #[test]
    fn users_stay_in_their_account() {
        assert_eq!(
            member().authorize("", Access::Read).unwrap().account_id(),
            "a1"
        );
        assert_eq!(
            member().authorize("a1", Access::Read).unwrap().account_id(),
            "a1"
        );
        assert_eq!(
            member().authorize("a2", Access::Read).unwrap_err().code,
            Code::NotFound
        );
        assert_eq!(
            member()
                .authorize("a1", Access::Write(Scope::UsersWrite))
                .unwrap_err()
                .code,
            Code::PermissionDenied
        );
    }

    #[test]
    fn services_need_scopes() {
        let svc = Principal::Service {
            name: "crm".into(),
            scopes: vec!["users:read".into()],
        };
        assert_eq!(
            svc.authorize("a9", Access::Read).unwrap().account_id(),
            "a9"
        );
        assert_eq!(
            svc.authorize("", Access::Read).unwrap_err().code,
            Code::InvalidArgument
        );
        assert_eq!(
            svc.authorize("a9", Access::Write(Scope::UsersWrite))
                .unwrap_err()
                .code,
            Code::PermissionDenied
        );
    }
}
