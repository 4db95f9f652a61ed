//! Accounts: CreateAccount, GetAccount.

use super::{MAX_SEATS, UserManagementApi, parse_new_user};
use crate::auth::principal::{Access, Scope};
use crate::domain::{BillingCycle, DisplayName, Plan, RequestId, Role, SeatPolicy};
use crate::error::Violations;
use crate::grpc::{convert, principal};
use crate::proto::v1 as pb;
use crate::service::accounts::NewAccount;
use crate::service::users::NewUser;
use tonic::{Request, Response, Status};

pub(super) async fn create_account(
    api: &UserManagementApi,
    request: Request<pb::CreateAccountRequest>,
) -> Result<Response<pb::CreateAccountResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    // Authorization comes before validation: an unauthorized caller
    // learns nothing about what a valid request looks like.
    let grant = caller.require_service_scope(Scope::AccountsCreate)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let name = v.check("name", DisplayName::parse(&r.name));
    let plan = convert::plan_from_proto(&mut v, "plan", r.plan).unwrap_or(Plan::Trial);
    let cycle = convert::cycle_from_proto(&mut v, "billing_cycle", r.billing_cycle)
        .unwrap_or(BillingCycle::Monthly);
    let policy = convert::policy_from_proto(&mut v, "seat_policy", r.seat_policy)
        .unwrap_or(SeatPolicy::AutoExpand);
    let seats = match r.seats_purchased {
        0 => 1,
        n if (1..=MAX_SEATS).contains(&n) => n,
        _ => {
            v.add(
                "seats_purchased",
                format!("must be between 0 and {MAX_SEATS}"),
            );
            1
        }
    };
    let currency = if r.currency.is_empty() {
        "USD".to_owned()
    } else {
        r.currency.clone()
    };
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        v.add(
            "currency",
            "must be an ISO 4217 code of three upper-case letters",
        );
    }
    let enterprise_price = match (plan, r.enterprise_seat_price_minor) {
        (Plan::Enterprise, p) if p > 0 => Some(p),
        (Plan::Enterprise, _) => {
            v.add(
                "enterprise_seat_price_minor",
                "required (> 0) for the ENTERPRISE plan",
            );
            None
        }
        (_, 0) => None,
        (_, p) if p < 0 => {
            v.add("enterprise_seat_price_minor", "must not be negative");
            None
        }
        (_, p) => Some(p),
    };
    let admin = r.admin.unwrap_or_default();
    let (admin_name, admin_email, admin_password) =
        parse_new_user(&mut v, "admin.", &admin.name, &admin.email, &admin.password);
    let request_id = v
        .check("request_id", RequestId::parse_optional(&r.request_id))
        .flatten();
    let (name, admin_name, email, password) =
        v.finish((name, admin_name, admin_email, admin_password))?;
    let created = api
        .roster
        .accounts
        .create_account(
            &grant,
            NewAccount {
                name,
                plan,
                cycle,
                policy,
                seats_purchased: seats,
                currency,
                enterprise_seat_price_minor: enterprise_price,
                admin: NewUser {
                    name: admin_name,
                    email,
                    password,
                    group_id: None,
                    role: Role::Admin,
                    permissions: None,
                    access_role_id: None,
                },
                request_id,
            },
        )
        .await?;
    Ok(Response::new(pb::CreateAccountResponse {
        account: Some(convert::account(
            &created.account,
            &api.roster.context.prices,
        )),
        admin: Some(convert::user(&created.admin)),
    }))
}

pub(super) async fn get_account(
    api: &UserManagementApi,
    request: Request<pb::GetAccountRequest>,
) -> Result<Response<pb::GetAccountResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    v.into_result()?;
    let account = api
        .roster
        .accounts
        .get_account(&caller.authorize(&account_id, Access::Read)?)
        .await?;
    Ok(Response::new(pb::GetAccountResponse {
        account: Some(convert::account(&account, &api.roster.context.prices)),
    }))
}
