//! Work records: RegisterWorkRecords, ListWorkRecords, CountWorkRecords.

use super::UserManagementApi;
use crate::auth::principal::{Access, Scope};
use crate::domain::records::RecordKind;
use crate::error::Violations;
use crate::grpc::{convert, principal};
use crate::proto::v1 as pb;
use crate::service::records::{MAX_RECORDS_PER_CALL, RecordInput};
use tonic::{Request, Response, Status};

pub(super) async fn register_work_records(
    api: &UserManagementApi,
    request: Request<pb::RegisterWorkRecordsRequest>,
) -> Result<Response<pb::RegisterWorkRecordsResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::RecordsWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    if r.records.is_empty() || r.records.len() > MAX_RECORDS_PER_CALL {
        v.add(
            "records",
            format!("1 to {MAX_RECORDS_PER_CALL} records per call"),
        );
    }
    let mut records = Vec::with_capacity(r.records.len());
    let mut seen = std::collections::HashSet::new();
    for (i, record) in r.records.iter().enumerate().take(MAX_RECORDS_PER_CALL) {
        let field = |name: &str| format!("records[{i}].{name}");
        let kind = convert::record_kind_from_proto(record.kind);
        if kind.is_none() {
            v.add(&field("kind"), "required: a record kind");
        }
        let external_id = record.external_id.trim();
        if external_id.is_empty() || external_id.chars().count() > 128 {
            v.add(&field("external_id"), "1 to 128 characters");
        }
        let owner = convert::id(&mut v, &field("owner_user_id"), &record.owner_user_id);
        let parent_kind = convert::record_kind_from_proto(record.parent_kind);
        let parent = match (kind, parent_kind) {
            (Some(RecordKind::Conversation), Some(p)) if RecordKind::PARENTS.contains(&p) => {
                if record.parent_external_id.trim().is_empty() {
                    v.add(&field("parent_external_id"), "required for conversations");
                }
                Some((p, record.parent_external_id.trim().to_owned()))
            }
            (Some(RecordKind::Conversation), _) => {
                v.add(
                    &field("parent_kind"),
                    "conversations attach to a LEAD or CONTACT",
                );
                None
            }
            (_, None) if record.parent_external_id.is_empty() => None,
            _ => {
                v.add(&field("parent_kind"), "only conversations have a parent");
                None
            }
        };
        if let (Some(kind), Some(owner)) = (kind, owner) {
            if !seen.insert((kind, external_id.to_owned())) {
                v.add(&field("external_id"), "listed twice in this call");
            }
            records.push(RecordInput {
                kind,
                external_id: external_id.to_owned(),
                owner_user_id: owner,
                parent,
            });
        }
    }
    v.into_result()?;
    let registered = api.roster.records.register_records(&grant, records).await?;
    Ok(Response::new(pb::RegisterWorkRecordsResponse {
        created: registered.created,
        updated: registered.updated,
    }))
}

pub(super) async fn list_work_records(
    api: &UserManagementApi,
    request: Request<pb::ListWorkRecordsRequest>,
) -> Result<Response<pb::ListWorkRecordsResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    let user_id = convert::id(&mut v, "user_id", &r.user_id);
    let kind = convert::record_kind_from_proto(r.kind);
    if kind.is_none() {
        v.add("kind", "required: a record kind");
    }
    let (user_id, kind) = v.finish((user_id, kind))?;
    let (rows, next_page_token) = api
        .roster
        .records
        .list_records(
            &caller.authorize(&account_id, Access::Read)?,
            &user_id,
            kind,
            r.page_size,
            &r.page_token,
        )
        .await?;
    Ok(Response::new(pb::ListWorkRecordsResponse {
        records: rows.iter().map(convert::work_record).collect(),
        next_page_token,
    }))
}

pub(super) async fn count_work_records(
    api: &UserManagementApi,
    request: Request<pb::CountWorkRecordsRequest>,
) -> Result<Response<pb::CountWorkRecordsResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    let user_id = convert::id(&mut v, "user_id", &r.user_id);
    v.into_result()?;
    let counts = api
        .roster
        .records
        .count_records(
            &caller.authorize(&account_id, Access::Read)?,
            &user_id.unwrap_or_default(),
        )
        .await?;
    Ok(Response::new(pb::CountWorkRecordsResponse {
        counts: Some(convert::counts(&counts)),
    }))
}
