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

/// One check of a request, its fields named under `prefix`.
fn parse_check(v: &mut Violations, prefix: &str, check: Option<&pb::AccessCheck>) -> Option<Check> {
    let Some(c) = check else {
        v.add(prefix, "required");
        return None;
    };
    let user_id = convert::id(v, &format!("{prefix}.user_id"), &c.user_id);
    let action = convert::action_from_proto(c.action);
    if action.is_none() {
        v.add(
            &format!("{prefix}.action"),
            "required: VIEW, EDIT, ADD, DELETE or EXPORT",
        );
    }
    let kind = convert::rights_kind_from_proto(c.kind);
    if kind.is_none() {
        v.add(
            &format!("{prefix}.kind"),
            "must be LEAD, CONTACT, COMPANY or TASK (the kinds that carry rights)",
        );
    }
    let owner_user_id =
        convert::optional_id(v, &format!("{prefix}.owner_user_id"), &c.owner_user_id);
    if c.stage_id.chars().count() > RequestedPermissions::MAX_STAGE_ID {
        v.add(
            &format!("{prefix}.stage_id"),
            format!("at most {} characters", RequestedPermissions::MAX_STAGE_ID),
        );
    }
    let stage_id = Some(c.stage_id.trim()).filter(|s| !s.is_empty());
    Some(Check {
        user_id: user_id?,
        action: action?,
        kind: kind?,
        owner_user_id,
        stage_id: stage_id.map(str::to_owned),
    })
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
        let check = parse_check(&mut v, "check", r.check.as_ref());
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
            .iter()
            .take(MAX_CHECKS)
            .enumerate()
            .map(|(i, c)| parse_check(&mut v, &format!("checks[{i}]"), Some(c)))
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
