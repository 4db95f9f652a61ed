//! ListUsers: one page of an account's users, keyset-paged, served from
//! the kept pages while the account's users are unchanged.

use super::UserService;
use super::auth::UserClaims;
use super::page_cache::{PageCache, PageKey, UserPage};
use super::paging;
use crate::auth::principal::{Access, Grant};
use crate::domain::{Role, UserStatus};
use crate::error::Result;
use crate::store::{PageRead, UserFilter, UserOrder, UsersAtVersion};

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
    /// `pages` (if given) when the read carried the account's users
    /// version. The password hash, which no page shows, is dropped.
    fn finish(&self, read: UsersAtVersion, pages: Option<&PageCache>) -> UserPage {
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
        if let (Some(pages), Some(users_version)) = (pages, read.users_version) {
            pages.put(self.key.clone(), users_version, page.clone());
        }
        page
    }
}

impl UserService {
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
        if page.filter.query.is_some()
            && let Some(page) = self.search_page(&page, None).await?
        {
            return Ok(page);
        }
        let read = users.page(page.read()).await?;
        Ok(page.finish(read, Some(&self.pages)))
    }

    /// A text search's page from the account's copy (see
    /// [`UserService::search_from_memory`]), or None when the database
    /// must answer.
    async fn search_page(
        &self,
        page: &PageQuery,
        read_now: Option<i64>,
    ) -> Result<Option<UserPage>> {
        if let Some(read) = self.search_from_memory(page.read(), read_now).await? {
            metrics::counter!("roster_search_pages_total", "source" => "memory").increment(1);
            // Not kept: the copy answers the same search again as fast,
            // and searches that differ call by call would push out the
            // kept pages of plain listings.
            return Ok(Some(page.finish(read, None)));
        }
        metrics::counter!("roster_search_pages_total", "source" => "database").increment(1);
        Ok(None)
    }

    /// ListUsers for a user token acting on its own account. A page read
    /// before, or a text search: the caller's row and the users version in
    /// one statement, then the kept page or the search copy if the version
    /// is theirs (the database otherwise). Any other page: the caller's
    /// row and the page in one go (see
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
        let searching = page.filter.query.is_some();
        if searching || page.is_kept(&self.pages) {
            let found = users.with_users_version(&claims.user_id).await?;
            let (caller, version) = found.unzip();
            claims
                .confirm(caller.as_ref())?
                .authorize(&claims.account_id, Access::Read)?;
            if let Some(kept) = page.kept(&self.pages, version) {
                return Ok(kept);
            }
            if searching && let Some(page) = self.search_page(&page, version).await? {
                return Ok(page);
            }
            let read = users.page(page.read()).await?;
            return Ok(page.finish(read, Some(&self.pages)));
        }
        let (caller, read) = users.caller_and_page(&claims.user_id, page.read()).await?;
        claims
            .confirm(caller.as_ref())?
            .authorize(&claims.account_id, Access::Read)?;
        Ok(page.finish(read, Some(&self.pages)))
    }
}
