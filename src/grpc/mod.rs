//! gRPC adapters: authenticate, convert, delegate to the use cases, convert
//! back. The only place where an [`Error`] becomes a `tonic::Status`.

pub mod access;
pub mod convert;
pub mod oversize;
pub mod seats;
pub mod text;
pub mod user_management;

use std::collections::HashMap;

use tonic::{Code as TonicCode, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::auth::Principal;
use crate::error::{Code, Error, Reason};
use crate::service::auth::{Authenticator, Bearer};

/// `google.rpc.ErrorInfo.domain` of every Roster error.
pub const ERROR_DOMAIN: &str = "roster.v1";

pub fn status(error: Error) -> Status {
    let code = match error.code {
        Code::InvalidArgument => TonicCode::InvalidArgument,
        Code::NotFound => TonicCode::NotFound,
        Code::AlreadyExists => TonicCode::AlreadyExists,
        Code::PermissionDenied => TonicCode::PermissionDenied,
        Code::Unauthenticated => TonicCode::Unauthenticated,
        Code::FailedPrecondition => TonicCode::FailedPrecondition,
        Code::Aborted => TonicCode::Aborted,
        Code::ResourceExhausted => TonicCode::ResourceExhausted,
        Code::OutOfRange => TonicCode::OutOfRange,
        Code::Unavailable => TonicCode::Unavailable,
        Code::Unimplemented => TonicCode::Unimplemented,
        Code::Internal => TonicCode::Internal,
    };
    let metadata: HashMap<String, String> = error
        .metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let mut details = ErrorDetails::with_error_info(error.reason.as_str(), ERROR_DOMAIN, metadata);
    for v in &error.field_violations {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    for p in &error.precondition_violations {
        details.add_precondition_failure_violation(
            p.kind.clone(),
            p.subject.clone(),
            p.description.clone(),
        );
    }
    Status::with_error_details(code, error.message, details)
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        status(error)
    }
}

/// The answer of RPCs that are designed but not served yet.
pub fn unimplemented(rpc: &str) -> Status {
    status(Error::new(
        Code::Unimplemented,
        Reason::NotImplemented,
        format!("{rpc} is part of the roster.v1 contract but not implemented yet"),
    ))
}

/// Verifies the request's bearer token (signature, expiry, audience) without
/// touching the database; [`Authenticator::principal`] finishes the job.
pub fn bearer<T>(auth: &Authenticator, request: &tonic::Request<T>) -> Result<Bearer, Status> {
    let header = request
        .metadata()
        .get("authorization")
        .map(|v| {
            v.to_str()
                .map_err(|_| Error::unauthenticated("malformed authorization header"))
        })
        .transpose()?;
    let bearer = auth.bearer(header)?;
    if let Bearer::User(claims) = &bearer {
        tracing::Span::current().record("account_id", claims.account_id.as_str());
    }
    Ok(bearer)
}

/// Authenticates the request's bearer token, reading a user token's user.
pub async fn principal<T>(
    auth: &Authenticator,
    request: &tonic::Request<T>,
) -> Result<Principal, Status> {
    let bearer = bearer(auth, request)?;
    Ok(auth.principal(bearer).await?)
}
