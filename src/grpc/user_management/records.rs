//! Work records: RegisterWorkRecords, ListWorkRecords, CountWorkRecords,
//! ListReassignments, TransferRecords.

use super::UserManagementApi;
use crate::auth::principal::{Access, Scope};
use crate::domain::RequestId;
use crate::domain::records::RecordKind;
use crate::error::Violations;
use crate::grpc::{convert, principal};
use crate::proto::v1 as pb;
use crate::service::journal::JournalPage;
use crate::service::records::{MAX_RECORDS_PER_CALL, RecordInput};
use crate::service::transfers::Transfer;
use crate::store::MoveFilter;
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
            v.add(field("kind"), "required: a record kind");
        }
        let external_id = record.external_id.trim();
        if external_id.is_empty() || external_id.chars().count() > 128 {
            v.add(field("external_id"), "1 to 128 characters");
        }
        let owner = convert::id(&mut v, field("owner_user_id"), &record.owner_user_id);
        let parent_kind = convert::record_kind_from_proto(record.parent_kind);
        let parent = match (kind, parent_kind) {
            (Some(RecordKind::Conversation), Some(p)) if RecordKind::PARENTS.contains(&p) => {
                if record.parent_external_id.trim().is_empty() {
                    v.add(field("parent_external_id"), "required for conversations");
                }
                Some((p, record.parent_external_id.trim().to_owned()))
            }
            (Some(RecordKind::Conversation), _) => {
                v.add(
                    field("parent_kind"),
                    "conversations attach to a LEAD, CONTACT or COMPANY",
                );
                None
            }
            (_, None) if record.parent_external_id.is_empty() => None,
            _ => {
                v.add(field("parent_kind"), "only conversations have a parent");
                None
            }
        };
        if let (Some(kind), Some(owner)) = (kind, owner) {
            if !seen.insert((kind, external_id.to_owned())) {
                v.add(field("external_id"), "listed twice in this call");
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

pub(super) async fn list_reassignments(
    api: &UserManagementApi,
    request: Request<pb::ListReassignmentsRequest>,
) -> Result<Response<pb::ListReassignmentsResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    let kind = match r.kind {
        0 => None,
        value => {
            let kind = convert::record_kind_from_proto(value).filter(|k| *k != RecordKind::Note);
            if kind.is_none() {
                v.add("kind", "must be a kind that moves (notes never do)");
            }
            kind
        }
    };
    let filter = MoveFilter {
        from_user_id: convert::optional_id(&mut v, "from_user_id", &r.from_user_id),
        to_user_id: convert::optional_id(&mut v, "to_user_id", &r.to_user_id),
        kind,
        job_id: convert::optional_id(&mut v, "job_id", &r.job_id),
        moved_after: convert::optional_instant(&mut v, "moved_after", r.moved_after.as_ref()),
        moved_before: convert::optional_instant(&mut v, "moved_before", r.moved_before.as_ref()),
    };
    v.into_result()?;
    let (moves, next_page_token) = api
        .roster
        .records
        .list_reassignments(
            &caller.authorize(&account_id, Access::Read)?,
            JournalPage {
                filter: &filter,
                page_size: r.page_size,
                page_token: &r.page_token,
                include_external_ids: r.include_external_ids,
            },
        )
        .await?;
    Ok(Response::new(pb::ListReassignmentsResponse {
        moves: moves
            .iter()
            .map(|m| convert::journal_move(&m.entry, &m.external_ids))
            .collect(),
        next_page_token,
    }))
}

pub(super) async fn transfer_records(
    api: &UserManagementApi,
    request: Request<pb::TransferRecordsRequest>,
) -> Result<Response<pb::TransferRecordsResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    let from = convert::id(&mut v, "from_user_id", &r.from_user_id);
    let to = convert::id(&mut v, "to_user_id", &r.to_user_id);
    let mut kinds = Vec::with_capacity(r.kinds.len());
    for (i, value) in r.kinds.iter().enumerate() {
        match convert::record_kind_from_proto(*value).filter(|k| k.is_movable()) {
            Some(kind) if kinds.contains(&kind) => v.add(format!("kinds[{i}]"), "listed twice"),
            Some(kind) => kinds.push(kind),
            None => v.add(
                format!("kinds[{i}]"),
                "only LEAD, CONTACT, COMPANY, CUSTOMER and TASK move (conversations follow their parent; notes never move)",
            ),
        }
    }
    let request_id = v
        .check("request_id", RequestId::parse_optional(&r.request_id))
        .flatten();
    let (from_user_id, to_user_id) = v.finish((from, to))?;
    let outcome = api
        .roster
        .records
        .transfer_records(
            &grant,
            Transfer {
                from_user_id,
                to_user_id,
                kinds,
                validate_only: r.validate_only,
                request_id,
            },
        )
        .await?;
    Ok(Response::new(pb::TransferRecordsResponse {
        moved: Some(convert::counts(&outcome.moved)),
        refusals: convert::refusals(&outcome.refusals),
    }))
}
