//! Work-record statements of the PostgreSQL build: statements over arrays
//! with static query ids, so each connection prepares them once whatever
//! a call's number of records.

use super::Conn;
use crate::error::Result;
use crate::store::models::NewWorkRecord;

/// All the rows of a call in one upsert, `INSERT … SELECT FROM unnest(…)`
/// of nine arrays (see [`RecordRowsUnnest`]), returning the id of each
/// row's record.
pub(super) async fn upsert_record_rows(
    conn: &mut Conn,
    rows: &[NewWorkRecord],
) -> Result<Vec<i64>> {
    use diesel_async::RunQueryDsl;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    Ok(RecordRowsUnnest::new(rows).load(conn).await?)
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

impl diesel::query_builder::Query for RecordRowsUnnest<'_> {
    type SqlType = diesel::sql_types::BigInt;
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
        out.push_sql(crate::store::models::RECORD_UPSERT_TAIL);
        Ok(())
    }
}
