//! `roster.v1.AccessService`: CheckAccess and BatchCheckAccess.

use tonic::{Request, Response, Status};

use super::{convert, principal};
use crate::auth::principal::Access;
use crate::domain::access::Check;
use crate::domain::permissions::RequestedPermissions;
use crate::error::Violations;
use crate::proto::v1 as pb;
use crate::proto::v1::access_service_server::AccessService;
use crate::service::Roster;
use crate::service::auth::Authenticator;

/// Most checks in one BatchCheckAccess.
pub const MAX_CHECKS: usize = 1000;

pub struct AccessApi {
    pub roster: Roster,
    pub auth: Authenticator,
}

/// One check of a request. `field` names a field of it (`check.user_id`,
/// `checks[3].user_id`), called only to report a violation: a valid check
/// of a batch costs no string building.
fn parse_check(
    v: &mut Violations,
    field: impl Fn(&str) -> String,
    check: Option<pb::AccessCheck>,
) -> Option<Check> {
    let Some(c) = check else {
        v.add(field(""), "required");
        return None;
    };
    let id = |v: &mut Violations, name: &str, value: String| match convert::id_problem(&value) {
        Some(problem) => {
            v.add(field(name), problem);
            None
        }
        None => Some(value),
    };
    let user_id = id(v, "user_id", c.user_id);
    let action = convert::action_from_proto(c.action);
    if action.is_none() {
        v.add(
            field("action"),
            "required: VIEW, EDIT, ADD, DELETE or EXPORT",
        );
    }
    let kind = convert::rights_kind_from_proto(c.kind);
    if kind.is_none() {
        v.add(
            field("kind"),
            "must be LEAD, CONTACT, COMPANY or TASK (the kinds that carry rights)",
        );
    }
    let owner_user_id = match c.owner_user_id.is_empty() {
        true => None,
        false => id(v, "owner_user_id", c.owner_user_id),
    };
    if c.stage_id.chars().count() > RequestedPermissions::MAX_STAGE_ID {
        v.add(
            field("stage_id"),
            format!("at most {} characters", RequestedPermissions::MAX_STAGE_ID),
        );
    }
    let stage_id = match c.stage_id.trim() {
        "" => None,
        trimmed if trimmed.len() == c.stage_id.len() => Some(c.stage_id),
        trimmed => Some(trimmed.to_owned()),
    };
    Some(Check {
        user_id: user_id?,
        action: action?,
        kind: kind?,
        owner_user_id,
        stage_id,
    })
}

/// `prefix.name`, or `prefix` for the message itself.
fn field(prefix: &str, name: &str) -> String {
    match name {
        "" => prefix.to_owned(),
        name => format!("{prefix}.{name}"),
    }
}

#[tonic::async_trait]
impl AccessService for AccessApi {
    async fn check_access(
        &self,
        request: Request<pb::CheckAccessRequest>,
    ) -> Result<Response<pb::CheckAccessResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let account_id = convert::account_id(&mut v, &r.account_id);
        let check = parse_check(&mut v, |name| field("check", name), r.check);
        let check = v.finish(check)?;
        let grant = caller.authorize(&account_id, Access::Read)?;
        let decision = self
            .roster
            .access
            .check_access(&grant, std::slice::from_ref(&check))
            .await?;
        Ok(Response::new(pb::CheckAccessResponse {
            decision: decision.first().map(convert::decision_to_proto),
        }))
    }

    async fn batch_check_access(
        &self,
        request: Request<pb::BatchCheckAccessRequest>,
    ) -> Result<Response<pb::BatchCheckAccessResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let account_id = convert::account_id(&mut v, &r.account_id);
        if r.checks.is_empty() || r.checks.len() > MAX_CHECKS {
            v.add("checks", format!("1 to {MAX_CHECKS} checks"));
        }
        let checks: Vec<Option<Check>> = r
            .checks
            .into_iter()
            .take(MAX_CHECKS)
            .enumerate()
            .map(|(i, c)| parse_check(&mut v, |name| field(&format!("checks[{i}]"), name), Some(c)))
            .collect();
        v.into_result()?;
        let checks: Vec<Check> = checks.into_iter().flatten().collect();
        let grant = caller.authorize(&account_id, Access::Read)?;
        let decisions = self.roster.access.check_access(&grant, &checks).await?;
        Ok(Response::new(pb::BatchCheckAccessResponse {
            decisions: decisions.iter().map(convert::decision_to_proto).collect(),
        }))
    }
}
