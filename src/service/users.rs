//! Adding, reading, listing and updating users.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::auth::UserClaims;
use super::idempotency::{self, Key};
use super::page_cache::{PageCache, PageKey, UserPage};
use super::paging;
use super::seats::{SeatEffect, take_seat};
use super::{UserService, ensure_writable, locked_account, new_id};
use crate::auth::principal::{Access, Grant};
use crate::domain::permissions::RequestedPermissions;
use crate::domain::{
    DisplayName, Email, EventType, NewEvent, Password, Permissions, RequestId, Role, User,
    UserStatus,
};
use crate::error::{Error, Reason, Result};
use crate::store::prelude::*;
use crate::store::{Insert, PageRead, UserFilter, UserOrder, UsersAtVersion};

/// A validated new user (AddUser, or the first admin of an account; with
/// `C` a [`Credential`](super::bulk_add::Credential), one of BulkAddUsers).
pub struct NewUser<C = Password> {
    pub name: DisplayName,
    pub email: Email,
    pub password: C,
    pub group_id: Option<String>,
    pub role: Role,
    /// None: the role's defaults (or the access role's rights).
    pub permissions: Option<Permissions>,
    /// The access role whose rights the user takes (then `permissions`
    /// is None).
    pub access_role_id: Option<String>,
}

impl<C> NewUser<C> {
    pub fn into_user(
        self,
        account_id: &str,
        role: Role,
        password_hash: String,
        now: NaiveDateTime,
    ) -> User {
        let permissions = self
            .permissions
            .unwrap_or_else(|| Permissions::default_for(role));
        User {
            id: new_id(),
            account_id: account_id.to_owned(),
            name: self.name.as_str().to_owned(),
            email: self.email.as_str().to_owned(),
            password_hash,
            group_id: self.group_id,
            role,
            access_role_id: self.access_role_id,
            permissions,
            status: UserStatus::Active,
            version: 1,
            tokens_valid_after: None,
            created_at: now,
            updated_at: now,
            disabled_at: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddedUser {
    pub user: User,
    pub seat_effect: SeatEffect,
}

/// Validated filters of ListUsers.
#[derive(Debug, Clone, Default)]
pub struct ListUsers {
    pub status: Option<UserStatus>,
    pub group_id: Option<String>,
    pub role: Option<Role>,
    pub query: Option<String>,
    pub order: UserOrder,
    pub page_size: i32,
    pub page_token: String,
}

/// A ListUsers request turned into the query of one page.
struct PageQuery {
    account_id: String,
    filter: UserFilter,
    /// Which page: the filters a page token is bound to, where it starts,
    /// its size (also the page's key among kept pages).
    key: PageKey,
}

impl PageQuery {
    fn new(account_id: &str, request: ListUsers) -> Result<Self> {
        let limit = paging::page_size(request.page_size, 50)?;
        let filter = UserFilter {
            status: request.status,
            group_id: request.group_id,
            role: request.role,
            query: request.query.map(|q| q.to_lowercase()),
            order: request.order,
        };
        let mut filters = format!(
            "{account_id}|{:?}|{:?}|{:?}|{:?}",
            filter.status, filter.group_id, filter.role, filter.query
        );
        // A token of one order is no token of another (the default order's
        // tokens stay as they were).
        if filter.order != UserOrder::Created {
            filters.push_str(&format!("|{:?}", filter.order));
        }
        let after = paging::decode_token(&request.page_token, &filters)?;
        Ok(Self {
            account_id: account_id.to_owned(),
            filter,
            key: PageKey {
                filters,
                after,
                limit,
            },
        })
    }

    /// Whether some version of this page is kept (worth reading the
    /// account's users version for).
    fn is_kept(&self, pages: &PageCache) -> bool {
        pages.holds(&self.key)
    }

    /// The kept page, if it was read at the account's current `users_version`.
    fn kept(&self, pages: &PageCache, users_version: Option<i64>) -> Option<UserPage> {
        users_version.and_then(|v| pages.get(&self.key, v))
    }

    /// The read of this page: one row more than the page, to know whether
    /// another follows.
    fn read(&self) -> PageRead<'_> {
        PageRead {
            account_id: &self.account_id,
            filter: &self.filter,
            after: self.key.after.as_deref(),
            limit: self.key.limit + 1,
        }
    }

    /// The page (at most `limit` rows) and the next page token, kept in
    /// `pages` when the read carried the account's users version. The
    /// password hash, which no page shows, is dropped.
    fn finish(&self, read: UsersAtVersion, pages: &PageCache) -> UserPage {
        let mut rows = read.users;
        let next_page_token =
            paging::finish_page(&mut rows, self.key.limit, &self.key.filters, |u| {
                self.filter.order.key(u)
            });
        for row in &mut rows {
            row.password_hash = String::new();
        }
        let page = UserPage {
            users: rows.into(),
            next_page_token,
        };
        metrics::counter!("roster_list_pages_total", "source" => "read").increment(1);
        if let Some(users_version) = read.users_version {
            pages.put(self.key.clone(), users_version, page.clone());
        }
        page
    }
}

/// Validated UpdateUser: None leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub etag: String,
    pub name: Option<DisplayName>,
    /// Some(None) removes the user from its group.
    pub group_id: Option<Option<String>>,
    pub role: Option<Role>,
    /// Individual rights; unset levels take the defaults of the user's
    /// final role. The user leaves its access role.
    pub permissions: Option<RequestedPermissions>,
    /// Some(Some(id)): take that access role's rights; Some(None): leave
    /// the access role, keeping its rights as individual ones.
    pub access_role_id: Option<Option<String>>,
}

impl UserService {
    pub async fn add_user(
        &self,
        grant: &Grant,
        user: NewUser,
        request_id: Option<RequestId>,
    ) -> Result<AddedUser> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let role = user.role;
        let permissions = user
            .permissions
            .unwrap_or_else(|| Permissions::default_for(role));
        let key = request_id.as_ref().map(|request_id| Key {
            namespace: &account_id,
            operation: "AddUser",
            request_id,
            fingerprint: idempotency::fingerprint(&[
                user.name.as_str(),
                user.email.as_str(),
                user.group_id.as_deref().unwrap_or(""),
                role.as_str(),
                &permissions.to_json(),
                user.access_role_id.as_deref().unwrap_or(""),
            ]),
        });
        // A retry of a finished call skips the costly hash.
        if let Some(key) = &key
            && let Some(done) = self
                .store
                .read(async |conn| idempotency::replay(conn, key).await)
                .await?
        {
            return Ok(done);
        }
        let password_hash = self.hasher.hash(&user.password).await?;
        let now = self.now();
        let mut row = NewUser {
            permissions: Some(permissions),
            ..user
        }
        .into_user(&account_id, role, password_hash, now);
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                if let Some(key) = &key
                    && let Some(done) = idempotency::replay(conn, key).await?
                {
                    return Ok(done);
                }
                ensure_writable(&account, now)?;
                if let Some(group_id) = &row.group_id
                    && !conn.group_exists(&account_id, group_id).await?
                {
                    return Err(Error::invalid("group_id", "no such group in this account"));
                }
                if let Some(role_id) = &row.access_role_id {
                    row.permissions = conn
                        .find_access_role(&account_id, role_id)
                        .await?
                        .ok_or_else(|| {
                            Error::invalid("access_role_id", "no such access role in this account")
                        })?
                        .permissions;
                }
                // The unique email index answers EMAIL_TAKEN (no query before);
                // `account` still holds the counts from before the insert, which
                // the seat decision is about, and a refusal rolls the insert back.
                if conn.insert_user(&row).await? == Insert::Duplicate {
                    return Err(Error::email_taken());
                }
                let seat_effect =
                    take_seat(conn, &account, &self.prices, &actor, &row.id, now).await?;
                conn.append_event(
                    &account_id,
                    NewEvent {
                        user_id: Some(row.id.clone()),
                        ..NewEvent::new(EventType::UserAdded, &actor)
                    },
                    now,
                )
                .await?;
                let added = AddedUser {
                    user: row.clone(),
                    seat_effect,
                };
                if let Some(key) = &key {
                    idempotency::remember(conn, key, &added, Some(&added.user.id), now).await?;
                }
                Ok::<_, Error>(added)
            })
            .await
    }

    pub async fn get_user(&self, grant: &Grant, user_id: &str) -> Result<User> {
        let account_id = grant.account_id().to_owned();
        self.store
            .users()
            .of_account(&account_id, user_id)
            .await?
            .ok_or_else(Error::user_not_found)
    }

    /// GetUser for a user token acting on its own account: the caller's row
    /// and the answer come from one query, so authentication costs no extra
    /// round trip and revocation still takes effect at once.
    pub async fn get_user_as(&self, claims: &UserClaims, user_id: &str) -> Result<User> {
        let mut rows = self
            .store
            .users()
            .caller_and_user(&claims.account_id, &claims.user_id, user_id)
            .await?;
        let caller = claims.confirm(rows.iter().find(|u| u.id == claims.user_id))?;
        caller.authorize(&claims.account_id, Access::Read)?;
        let at = rows
            .iter()
            .position(|u| u.id == user_id)
            .ok_or_else(Error::user_not_found)?;
        Ok(rows.swap_remove(at))
    }

    /// One page of users and the next page token. A page read before is
    /// served again while the account's users version is unchanged (see
    /// [`PageCache`]): one small read instead of the page.
    pub async fn list_users(&self, grant: &Grant, request: ListUsers) -> Result<UserPage> {
        let account_id = grant.account_id().to_owned();
        let page = PageQuery::new(&account_id, request)?;
        let users = self.store.users();
        if page.is_kept(&self.pages) {
            let version = users.users_version(&account_id).await?;
            if let Some(kept) = page.kept(&self.pages, version) {
                return Ok(kept);
            }
        }
        let read = users.page(page.read()).await?;
        Ok(page.finish(read, &self.pages))
    }

    /// ListUsers without a text search (the handler sends those to
    /// [`UserService::list_users`]) for a user token acting on its own account.
    /// A page read before: the caller's row and the users version in one
    /// statement, and the kept page if the version is unchanged. Otherwise
    /// the caller's row and the page in one go (see
    /// [`Users::caller_and_page`](crate::store::Users::caller_and_page)).
    /// Either way revocation takes effect at once, and no row leaves before
    /// the caller is confirmed and authorized.
    pub async fn list_users_as(&self, claims: &UserClaims, request: ListUsers) -> Result<UserPage> {
        let page = match PageQuery::new(&claims.account_id, request) {
            Ok(page) => page,
            Err(invalid) => {
                // A revoked token hears UNAUTHENTICATED first, as on every RPC.
                claims.confirm_now(&self.store).await?;
                return Err(invalid);
            }
        };
        let users = self.store.users();
        if page.is_kept(&self.pages) {
            let found = users.with_users_version(&claims.user_id).await?;
            let (caller, version) = found.unzip();
            claims
                .confirm(caller.as_ref())?
                .authorize(&claims.account_id, Access::Read)?;
            if let Some(kept) = page.kept(&self.pages, version) {
                return Ok(kept);
            }
            let read = users.page(page.read()).await?;
            return Ok(page.finish(read, &self.pages));
        }
        let (caller, read) = users.caller_and_page(&claims.user_id, page.read()).await?;
        claims
            .confirm(caller.as_ref())?
            .authorize(&claims.account_id, Access::Read)?;
        Ok(page.finish(read, &self.pages))
    }

    pub async fn update_user(
        &self,
        grant: &Grant,
        user_id: &str,
        update: UserUpdate,
    ) -> Result<User> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                let user = conn
                    .find_user(&account_id, user_id)
                    .await?
                    .ok_or_else(Error::user_not_found)?;
                ensure_writable(&account, now)?;
                if user.etag() != update.etag {
                    return Err(Error::etag_mismatch("user"));
                }
                let old_role = user.role;
                let role = update.role.unwrap_or(old_role);
                if user.is_active_admin()
                    && role != Role::Admin
                    && conn.count_active_admins(&account_id).await? <= 1
                {
                    return Err(Error::precondition(
                        Reason::LastAdmin,
                        "the account's last active admin cannot stop being an admin",
                    ));
                }
                let group_id = match update.group_id {
                    Some(Some(group_id)) => {
                        if !conn.group_exists(&account_id, &group_id).await? {
                            return Err(Error::invalid(
                                "group_id",
                                "no such group in this account",
                            ));
                        }
                        Some(group_id)
                    }
                    Some(None) => None,
                    None => user.group_id.clone(),
                };
                let name = update
                    .name
                    .map(|n| n.as_str().to_owned())
                    .unwrap_or_else(|| user.name.clone());
                let (access_role_id, permissions) =
                    match (update.access_role_id, update.permissions) {
                        (Some(Some(role_id)), _) => {
                            let access_role = conn
                                .find_access_role(&account_id, &role_id)
                                .await?
                                .ok_or_else(|| {
                                Error::invalid(
                                    "access_role_id",
                                    "no such access role in this account",
                                )
                            })?;
                            (Some(role_id), access_role.permissions)
                        }
                        (Some(None), None) => (None, user.permissions.clone()),
                        (_, Some(p)) => (None, p.resolve(role)),
                        // The access role's rights do not depend on ADMIN/MEMBER.
                        (None, None) if user.access_role_id.is_some() => {
                            (user.access_role_id.clone(), user.permissions.clone())
                        }
                        (None, None) if role != old_role => (None, Permissions::default_for(role)),
                        (None, None) => (None, user.permissions.clone()),
                    };
                let updated = User {
                    name,
                    group_id,
                    role,
                    access_role_id,
                    permissions,
                    version: user.version + 1,
                    updated_at: now,
                    ..user
                };
                conn.update_user_profile(&updated).await?;
                conn.append_event(
                    &account_id,
                    NewEvent {
                        user_id: Some(user_id.to_owned()),
                        ..NewEvent::new(EventType::UserUpdated, &actor)
                    },
                    now,
                )
                .await?;
                Ok::<_, Error>(updated)
            })
            .await
    }
}
