//! `roster.v1.SeatsService`: thin adapters over the use cases.

use tonic::{Request, Response, Status};

use super::{convert, principal, unimplemented};
use crate::error::Violations;
use crate::proto::v1 as pb;
use crate::proto::v1::seats_service_server::SeatsService;
use crate::service::Roster;
use crate::service::auth::Authenticator;

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
        if !r.account_id.is_empty() && uuid::Uuid::parse_str(&r.account_id).is_err() {
            v.add("account_id", "must be a UUID or empty");
        }
        v.into_result()?;
        let usage = self.roster.seat_usage(&caller, &r.account_id).await?;
        Ok(Response::new(pb::GetSeatUsageResponse {
            usage: Some(convert::seat_usage(&usage)),
        }))
    }

    async fn list_ledger_entries(
        &self,
        request: Request<pb::ListLedgerEntriesRequest>,
    ) -> Result<Response<pb::ListLedgerEntriesResponse>, Status> {
        principal(&self.auth, &request).await?;
        Err(unimplemented("ListLedgerEntries"))
    }

    async fn request_seat_recalculation(
        &self,
        request: Request<pb::RequestSeatRecalculationRequest>,
    ) -> Result<Response<pb::RequestSeatRecalculationResponse>, Status> {
        principal(&self.auth, &request).await?;
        Err(unimplemented("RequestSeatRecalculation"))
    }

    async fn cancel_seat_recalculation(
        &self,
        request: Request<pb::CancelSeatRecalculationRequest>,
    ) -> Result<Response<pb::CancelSeatRecalculationResponse>, Status> {
        principal(&self.auth, &request).await?;
        Err(unimplemented("CancelSeatRecalculation"))
    }

    async fn roll_over_billing_periods(
        &self,
        request: Request<pb::RollOverBillingPeriodsRequest>,
    ) -> Result<Response<pb::RollOverBillingPeriodsResponse>, Status> {
        principal(&self.auth, &request).await?;
        Err(unimplemented("RollOverBillingPeriods"))
    }

    async fn change_plan(
        &self,
        request: Request<pb::ChangePlanRequest>,
    ) -> Result<Response<pb::ChangePlanResponse>, Status> {
        principal(&self.auth, &request).await?;
        Err(unimplemented("ChangePlan"))
    }

    async fn set_seats_purchased(
        &self,
        request: Request<pb::SetSeatsPurchasedRequest>,
    ) -> Result<Response<pb::SetSeatsPurchasedResponse>, Status> {
        principal(&self.auth, &request).await?;
        Err(unimplemented("SetSeatsPurchased"))
    }

    async fn update_seat_policy(
        &self,
        request: Request<pb::UpdateSeatPolicyRequest>,
    ) -> Result<Response<pb::UpdateSeatPolicyResponse>, Status> {
        principal(&self.auth, &request).await?;
        Err(unimplemented("UpdateSeatPolicy"))
    }
}
