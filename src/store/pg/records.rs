//! Work-record statements of the PostgreSQL build: statements over arrays
//! with static query ids, so each connection prepares them once whatever
//! a call's number of records.

use super::Conn;
use crate::error::Result;
use crate::store::models::{NewWorkRecord, RecordKeyRow};

/// One statement for any number of keys: two arrays, each pair looked up
/// in the unique index `(account_id, kind, external_id)` (a lateral
/// subquery fenced by `OFFSET 0`, as in `UsersByIds`, so no plan can
/// walk the account's records instead). It has a static query id, so each
/// connection prepares it once: as `sql_query` it was planned on every
/// call (about 1 ms for 1,000 keys).
pub(super) async fn find_record_key_rows(
    conn: &mut Conn,
    account_id: &str,
    keys: &[(crate::domain::records::RecordKind, &str)],
) -> Result<Vec<RecordKeyRow>> {
    use diesel_async::RunQueryDsl;
    let query = RecordKeys {
        account_id,
        kinds: keys.iter().map(|(kind, _)| kind.as_str()).collect(),
        external_ids: keys.iter().map(|(_, id)| *id).collect(),
    };
    Ok(query.load(conn).await?)
}

/// The query of [`find_record_key_rows`].
struct RecordKeys<'a> {
    account_id: &'a str,
    kinds: Vec<&'a str>,
    external_ids: Vec<&'a str>,
}

/// The static query id of [`RecordKeys`].
struct RecordKeysId;

impl diesel::query_builder::QueryId for RecordKeys<'_> {
    type QueryId = RecordKeysId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for RecordKeys<'_> {
    type SqlType = (
        diesel::sql_types::Text,
        diesel::sql_types::Text,
        diesel::sql_types::BigInt,
    );
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for RecordKeys<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        use diesel::sql_types::{Array, Text};
        out.push_sql("SELECT w.kind, w.external_id, w.id FROM unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.kinds)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.external_ids)?;
        out.push_sql(
            ") AS wanted (kind, external_id) CROSS JOIN LATERAL \
             (SELECT id, kind, external_id FROM work_records \
             WHERE work_records.account_id = ",
        );
        out.push_bind_param::<Text, _>(&self.account_id)?;
        out.push_sql(
            " AND work_records.kind = wanted.kind \
             AND work_records.external_id = wanted.external_id OFFSET 0) AS w",
        );
        Ok(())
    }
}

/// All the rows of a call in one `INSERT … SELECT FROM unnest(…)` of nine
/// arrays (see [`RecordRowsUnnest`]).
pub(super) async fn insert_record_rows(conn: &mut Conn, rows: &[NewWorkRecord]) -> Result<usize> {
    use diesel_async::RunQueryDsl;
    if rows.is_empty() {
        return Ok(0);
    }
    Ok(RecordRowsUnnest::new(rows).execute(conn).await?)
}

/// Record rows as one short statement with one array per column. It has a
/// static query id, so each connection prepares it once; the multi-row
/// `VALUES` it replaces (9,000 binds per 1,000 rows) was parsed and planned
/// again on every call, since diesel keeps no batch of runtime size
/// prepared.
struct RecordRowsUnnest<'a> {
    account_id: Vec<&'a str>,
    kind: Vec<&'a str>,
    external_id: Vec<&'a str>,
    owner_user_id: Vec<Option<&'a str>>,
    owner_is_former: Vec<bool>,
    parent_kind: Vec<Option<&'a str>>,
    parent_external_id: Vec<Option<&'a str>>,
    created_at: Vec<chrono::NaiveDateTime>,
    updated_at: Vec<chrono::NaiveDateTime>,
}

impl<'a> RecordRowsUnnest<'a> {
    fn new(rows: &'a [NewWorkRecord]) -> Self {
        RecordRowsUnnest {
            account_id: rows.iter().map(|r| r.account_id.as_str()).collect(),
            kind: rows.iter().map(|r| r.kind.as_str()).collect(),
            external_id: rows.iter().map(|r| r.external_id.as_str()).collect(),
            owner_user_id: rows.iter().map(|r| r.owner_user_id.as_deref()).collect(),
            owner_is_former: rows.iter().map(|r| r.owner_is_former).collect(),
            parent_kind: rows.iter().map(|r| r.parent_kind.as_deref()).collect(),
            parent_external_id: rows
                .iter()
                .map(|r| r.parent_external_id.as_deref())
                .collect(),
            created_at: rows.iter().map(|r| r.created_at).collect(),
            updated_at: rows.iter().map(|r| r.updated_at).collect(),
        }
    }
}

/// The static query id of [`RecordRowsUnnest`].
struct RecordRowsUnnestId;

impl diesel::query_builder::QueryId for RecordRowsUnnest<'_> {
    type QueryId = RecordRowsUnnestId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for RecordRowsUnnest<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        use diesel::sql_types::{Array, Bool, Nullable, Text, Timestamp};
        out.push_sql(
            "INSERT INTO work_records (account_id, kind, external_id, owner_user_id, \
             owner_is_former, parent_kind, parent_external_id, created_at, updated_at) \
             SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.account_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.kind)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.external_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.owner_user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Bool>, _>(&self.owner_is_former)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.parent_kind)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.parent_external_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.updated_at)?;
        out.push_sql(")");
        Ok(())
    }
}
