//! `roster.v1.SeatsService`: thin adapters over the use cases.

use tonic::{Request, Response, Status};

use super::user_management::MAX_SEATS;
use super::{convert, principal};
use crate::auth::principal::{Access, Scope};
use crate::domain::{Plan, SeatPolicy};
use crate::error::Violations;
use crate::proto::v1 as pb;
use crate::proto::v1::seats_service_server::SeatsService;
use crate::service::Roster;
use crate::service::auth::Authenticator;
use crate::service::billing::PlanChange;

/// Longest free-text ledger reason.
const MAX_REASON: usize = 500;

pub struct SeatsApi {
    pub roster: Roster,
    pub auth: Authenticator,
}

#[tonic::async_trait]
impl SeatsService for SeatsApi {
    async fn get_seat_usage(
        &self,
        request: Request<pb::GetSeatUsageRequest>,
    ) -> Result<Response<pb::GetSeatUsageResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let mut v = Violations::new();
        convert::account_id(&mut v, &r.account_id);
        v.into_result()?;
        let usage = self
            .roster
            .billing
            .seat_usage(&caller.authorize(&r.account_id, Access::Read)?)
            .await?;
        Ok(Response::new(pb::GetSeatUsageResponse {
            usage: Some(convert::seat_usage(&usage)),
        }))
    }

    async fn list_ledger_entries(
        &self,
        request: Request<pb::ListLedgerEntriesRequest>,
    ) -> Result<Response<pb::ListLedgerEntriesResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let mut v = Violations::new();
        convert::account_id(&mut v, &r.account_id);
        v.into_result()?;
        let (rows, next_page_token) = self
            .roster
            .billing
            .list_ledger(
                &caller.authorize(&r.account_id, Access::Read)?,
                r.page_size,
                &r.page_token,
            )
            .await?;
        Ok(Response::new(pb::ListLedgerEntriesResponse {
            entries: rows.iter().map(convert::ledger_entry).collect(),
            next_page_token,
        }))
    }

    async fn request_seat_recalculation(
        &self,
        request: Request<pb::RequestSeatRecalculationRequest>,
    ) -> Result<Response<pb::RequestSeatRecalculationResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let grant = caller.authorize(&r.account_id, Access::Write(Scope::BillingWrite))?;
        let mut v = Violations::new();
        convert::account_id(&mut v, &r.account_id);
        if r.reason.chars().count() > MAX_REASON {
            v.add("reason", format!("at most {MAX_REASON} characters"));
        }
        v.into_result()?;
        let usage = self
            .roster
            .billing
            .request_recalculation(&grant, r.reason.trim(), r.validate_only)
            .await?;
        let usage = convert::seat_usage(&usage);
        Ok(Response::new(pb::RequestSeatRecalculationResponse {
            pending_change: usage.pending_change.clone(),
            usage: Some(usage),
        }))
    }

    async fn cancel_seat_recalculation(
        &self,
        request: Request<pb::CancelSeatRecalculationRequest>,
    ) -> Result<Response<pb::CancelSeatRecalculationResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let grant = caller.authorize(&r.account_id, Access::Write(Scope::BillingWrite))?;
        let mut v = Violations::new();
        convert::account_id(&mut v, &r.account_id);
        v.into_result()?;
        let usage = self.roster.billing.cancel_recalculation(&grant).await?;
        Ok(Response::new(pb::CancelSeatRecalculationResponse {
            usage: Some(convert::seat_usage(&usage)),
        }))
    }

    async fn roll_over_billing_periods(
        &self,
        request: Request<pb::RollOverBillingPeriodsRequest>,
    ) -> Result<Response<pb::RollOverBillingPeriodsResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let grant = caller.require_service_scope(Scope::BillingWrite)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        convert::account_id(&mut v, &r.account_id);
        v.into_result()?;
        let (rolled, applied) = self
            .roster
            .billing
            .roll_over_periods(&grant, &r.account_id)
            .await?;
        Ok(Response::new(pb::RollOverBillingPeriodsResponse {
            accounts_rolled_over: rolled,
            recalculations_applied: applied,
        }))
    }

    async fn change_plan(
        &self,
        request: Request<pb::ChangePlanRequest>,
    ) -> Result<Response<pb::ChangePlanResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let grant = caller.authorize(&r.account_id, Access::ServiceOnly(Scope::BillingWrite))?;
        let mut v = Violations::new();
        convert::account_id(&mut v, &r.account_id);
        let plan = convert::plan_from_proto(&mut v, "plan", r.plan);
        if plan == Some(Plan::Trial) {
            v.add("plan", "an account cannot go back to the trial");
        }
        let cycle = convert::cycle_from_proto(&mut v, "billing_cycle", r.billing_cycle);
        if r.enterprise_seat_price_minor < 0 {
            v.add("enterprise_seat_price_minor", "must not be negative");
        }
        if r.reason.chars().count() > MAX_REASON {
            v.add("reason", format!("at most {MAX_REASON} characters"));
        }
        v.into_result()?;
        let account = self
            .roster
            .billing
            .change_plan(
                &grant,
                PlanChange {
                    plan,
                    cycle,
                    enterprise_seat_price_minor: (r.enterprise_seat_price_minor > 0)
                        .then_some(r.enterprise_seat_price_minor),
                    reason: r.reason.trim().to_owned(),
                },
            )
            .await?;
        Ok(Response::new(pb::ChangePlanResponse {
            account: Some(convert::account(&account, &self.roster.context.prices)),
        }))
    }

    async fn set_seats_purchased(
        &self,
        request: Request<pb::SetSeatsPurchasedRequest>,
    ) -> Result<Response<pb::SetSeatsPurchasedResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let grant = caller.authorize(&r.account_id, Access::ServiceOnly(Scope::BillingWrite))?;
        let mut v = Violations::new();
        convert::account_id(&mut v, &r.account_id);
        if !(1..=MAX_SEATS).contains(&r.seats_purchased) {
            v.add(
                "seats_purchased",
                format!("must be between 1 and {MAX_SEATS}"),
            );
        }
        if r.reason.chars().count() > MAX_REASON {
            v.add("reason", format!("at most {MAX_REASON} characters"));
        }
        v.into_result()?;
        let usage = self
            .roster
            .billing
            .set_seats(&grant, r.seats_purchased, r.reason.trim())
            .await?;
        Ok(Response::new(pb::SetSeatsPurchasedResponse {
            usage: Some(convert::seat_usage(&usage)),
        }))
    }

    async fn update_seat_policy(
        &self,
        request: Request<pb::UpdateSeatPolicyRequest>,
    ) -> Result<Response<pb::UpdateSeatPolicyResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let grant = caller.authorize(&r.account_id, Access::Write(Scope::BillingWrite))?;
        let mut v = Violations::new();
        convert::account_id(&mut v, &r.account_id);
        let policy = convert::policy_from_proto(&mut v, "seat_policy", r.seat_policy);
        if policy.is_none() {
            v.add("seat_policy", "required: AUTO_EXPAND or STRICT");
        }
        v.into_result()?;
        let usage = self
            .roster
            .billing
            .set_seat_policy(&grant, policy.unwrap_or(SeatPolicy::AutoExpand))
            .await?;
        Ok(Response::new(pb::UpdateSeatPolicyResponse {
            update_time: Some(convert::timestamp(usage.account.updated_at)),
            usage: Some(convert::seat_usage(&usage)),
        }))
    }
}
