//! The one error type of the request path.
//!
//! Every failure a caller can see is an [`Error`]: a canonical code, a stable
//! reason (the proto's `ErrorReason` name) and, for bad input, the offending
//! fields. `grpc::status` turns it into a `tonic::Status` in exactly one
//! place. Database errors are mapped here too: their text is logged, never
//! returned.

use std::fmt;

mod violations;

pub use violations::{AllParsed, Violations};

/// The canonical gRPC code an error maps to (the subset Roster uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    Unauthenticated,
    FailedPrecondition,
    Aborted,
    ResourceExhausted,
    OutOfRange,
    Unavailable,
    Unimplemented,
    Internal,
}

/// Stable machine-readable reasons; the names match `roster.v1.ErrorReason`
/// without its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    InvalidArgument,
    EmailTaken,
    SeatLimitReached,
    LastAdmin,
    TargetNotActive,
    TargetIsSubject,
    TrialExpired,
    UserNotFound,
    AccountNotFound,
    GroupNotFound,
    JobNotFound,
    EtagMismatch,
    InvalidStatus,
    ReassignmentRequired,
    GroupNameTaken,
    RequestIdReused,
    TokenInvalid,
    PermissionDenied,
    StorageUnavailable,
    Internal,
    NotImplemented,
    JobFinished,
    TooManyAttempts,
    WrongCredentials,
    CursorExpired,
    AccessRoleNotFound,
    AccessRoleNameTaken,
    AccessRoleInUse,
    TransferTooLarge,
}

impl Reason {
    /// Every reason, in the proto's order.
    pub const ALL: [Reason; 29] = [
        Reason::InvalidArgument,
        Reason::EmailTaken,
        Reason::SeatLimitReached,
        Reason::LastAdmin,
        Reason::TargetNotActive,
        Reason::TargetIsSubject,
        Reason::TrialExpired,
        Reason::UserNotFound,
        Reason::AccountNotFound,
        Reason::GroupNotFound,
        Reason::JobNotFound,
        Reason::EtagMismatch,
        Reason::InvalidStatus,
        Reason::ReassignmentRequired,
        Reason::GroupNameTaken,
        Reason::RequestIdReused,
        Reason::TokenInvalid,
        Reason::PermissionDenied,
        Reason::StorageUnavailable,
        Reason::Internal,
        Reason::NotImplemented,
        Reason::JobFinished,
        Reason::TooManyAttempts,
        Reason::WrongCredentials,
        Reason::CursorExpired,
        Reason::AccessRoleNotFound,
        Reason::AccessRoleNameTaken,
        Reason::AccessRoleInUse,
        Reason::TransferTooLarge,
    ];

    /// The reason named `name` (as [`Reason::as_str`] spells it).
    pub fn from_name(name: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The `ErrorInfo.reason` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidArgument => "INVALID_ARGUMENT",
            Reason::EmailTaken => "EMAIL_TAKEN",
            Reason::SeatLimitReached => "SEAT_LIMIT_REACHED",
            Reason::LastAdmin => "LAST_ADMIN",
            Reason::TargetNotActive => "TARGET_NOT_ACTIVE",
            Reason::TargetIsSubject => "TARGET_IS_SUBJECT",
            Reason::TrialExpired => "TRIAL_EXPIRED",
            Reason::UserNotFound => "USER_NOT_FOUND",
            Reason::AccountNotFound => "ACCOUNT_NOT_FOUND",
            Reason::GroupNotFound => "GROUP_NOT_FOUND",
            Reason::JobNotFound => "JOB_NOT_FOUND",
            Reason::EtagMismatch => "ETAG_MISMATCH",
            Reason::TooManyAttempts => "TOO_MANY_ATTEMPTS",
            Reason::WrongCredentials => "WRONG_CREDENTIALS",
            Reason::InvalidStatus => "INVALID_STATUS",
            Reason::ReassignmentRequired => "REASSIGNMENT_REQUIRED",
            Reason::GroupNameTaken => "GROUP_NAME_TAKEN",
            Reason::RequestIdReused => "REQUEST_ID_REUSED",
            Reason::TokenInvalid => "TOKEN_INVALID",
            Reason::PermissionDenied => "PERMISSION_DENIED",
            Reason::StorageUnavailable => "STORAGE_UNAVAILABLE",
            Reason::Internal => "INTERNAL",
            Reason::NotImplemented => "NOT_IMPLEMENTED",
            Reason::JobFinished => "JOB_FINISHED",
            Reason::CursorExpired => "CURSOR_EXPIRED",
            Reason::AccessRoleNotFound => "ACCESS_ROLE_NOT_FOUND",
            Reason::AccessRoleNameTaken => "ACCESS_ROLE_NAME_TAKEN",
            Reason::AccessRoleInUse => "ACCESS_ROLE_IN_USE",
            Reason::TransferTooLarge => "TRANSFER_TOO_LARGE",
        }
    }
}

/// Stored (in idempotent replies, job results) by name.
impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Reason::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown reason {name:?}")))
    }
}

/// One invalid field: its path in the request and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// A `google.rpc.PreconditionFailure` entry (for example seat usage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreconditionViolation {
    pub kind: String,
    pub subject: String,
    pub description: String,
}

/// An error a caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub reason: Reason,
    pub message: String,
    pub field_violations: Vec<FieldViolation>,
    pub precondition_violations: Vec<PreconditionViolation>,
    /// `google.rpc.ErrorInfo.metadata`: machine-readable facts of the error.
    pub metadata: Vec<(&'static str, String)>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, reason: Reason, message: impl Into<String>) -> Self {
        Error {
            code,
            reason,
            message: message.into(),
            field_violations: Vec::new(),
            precondition_violations: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// INVALID_ARGUMENT naming one field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::invalid_fields(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    /// INVALID_ARGUMENT naming several fields.
    pub fn invalid_fields(violations: Vec<FieldViolation>) -> Self {
        let message = match violations.as_slice() {
            [one] => format!("invalid {}: {}", one.field, one.description),
            many => format!("{} invalid fields", many.len()),
        };
        Error {
            field_violations: violations,
            ..Error::new(Code::InvalidArgument, Reason::InvalidArgument, message)
        }
    }

    pub fn not_found(reason: Reason, what: &str) -> Self {
        Error::new(Code::NotFound, reason, format!("{what} not found"))
    }

    pub fn user_not_found() -> Self {
        Error::not_found(Reason::UserNotFound, "user")
    }

    pub fn account_not_found() -> Self {
        Error::not_found(Reason::AccountNotFound, "account")
    }

    /// The same neutral answer whichever account holds the address.
    pub fn email_taken() -> Self {
        Error::new(
            Code::AlreadyExists,
            Reason::EmailTaken,
            "this email address is already in use",
        )
    }

    pub fn group_name_taken() -> Self {
        Error::new(
            Code::AlreadyExists,
            Reason::GroupNameTaken,
            "a group with this name already exists",
        )
    }

    /// ABORTED: `what` changed since the caller read it.
    pub fn etag_mismatch(what: &str) -> Self {
        Error::new(
            Code::Aborted,
            Reason::EtagMismatch,
            format!("the {what} changed since it was read; read it again and retry"),
        )
    }

    pub fn access_role_not_found() -> Self {
        Error::not_found(Reason::AccessRoleNotFound, "access role")
    }

    pub fn access_role_name_taken() -> Self {
        Error::new(
            Code::AlreadyExists,
            Reason::AccessRoleNameTaken,
            "an access role with this name already exists",
        )
    }

    pub fn precondition(reason: Reason, message: impl Into<String>) -> Self {
        Error::new(Code::FailedPrecondition, reason, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Error::new(Code::Unauthenticated, Reason::TokenInvalid, message)
    }

    pub fn permission_denied(message: impl Into<String>) -> Self {
        Error::new(Code::PermissionDenied, Reason::PermissionDenied, message)
    }

    pub fn internal() -> Self {
        Error::new(Code::Internal, Reason::Internal, "internal error")
    }

    pub fn unavailable() -> Self {
        Error::new(
            Code::Unavailable,
            Reason::StorageUnavailable,
            "storage unavailable, retry later",
        )
    }

    /// OUT_OF_RANGE: events up to `oldest - 1` were pruned, so a stream
    /// from `after` would miss some.
    pub fn cursor_expired(after: i64, oldest: i64) -> Self {
        let mut error = Error::new(
            Code::OutOfRange,
            Reason::CursorExpired,
            format!(
                "events after sequence {after} are no longer kept; the oldest still available is {oldest} (resume with after_sequence = {})",
                oldest - 1
            ),
        );
        error.metadata.push(("oldest_sequence", oldest.to_string()));
        error
    }

    pub fn with_precondition(mut self, kind: &str, subject: &str, description: String) -> Self {
        self.precondition_violations.push(PreconditionViolation {
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            description,
        });
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}/{}: {}",
            self.code,
            self.reason.as_str(),
            self.message
        )
    }
}

impl std::error::Error for Error {}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as D};
        match &e {
            D::NotFound => Error::new(Code::NotFound, Reason::InvalidArgument, "not found"),
            D::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | D::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _)
            | D::BrokenTransactionManager => {
                tracing::warn!(error = %e, "database connection lost");
                Error::unavailable()
            }
            D::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                tracing::warn!(error = %e, "serialization failure");
                Error::new(
                    Code::Aborted,
                    Reason::StorageUnavailable,
                    "concurrent change, retry",
                )
            }
            // PostgreSQL's last word on a connection it ends (SQLSTATE 57P01-57P03:
            // pg_terminate_backend, a restart, a crash of another backend); diesel
            // passes on the message, not the SQLSTATE.
            D::DatabaseError(_, info) if is_server_shutdown(info.message()) => {
                tracing::warn!(error = %e, "database connection ended by the server");
                Error::unavailable()
            }
            D::DatabaseError(_, info) if is_busy(info.message()) => {
                tracing::warn!(error = %e, "database busy");
                Error::unavailable()
            }
            _ => {
                tracing::error!(error = %e, "database error");
                Error::internal()
            }
        }
    }
}

fn is_server_shutdown(message: &str) -> bool {
    message.starts_with("terminating connection")
        || message.starts_with("the database system is shutting down")
        || message.starts_with("the database system is starting up")
        || message.starts_with("the database system is in recovery mode")
}

fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database is busy")
}

/// Pool checkout failures: the database is unreachable or saturated.
impl From<diesel_async::pooled_connection::deadpool::PoolError> for Error {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        tracing::warn!(error = %e, "database pool checkout failed");
        Error::unavailable()
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error as D};

    use super::*;

    fn code_of(message: &str) -> Code {
        let info: Box<dyn diesel::result::DatabaseErrorInformation + Send + Sync> =
            Box::new(message.to_owned());
        Error::from(D::DatabaseError(DatabaseErrorKind::Unknown, info)).code
    }

    #[test]
    fn reasons_round_trip_by_name_and_match_the_proto() {
        use crate::proto::v1::ErrorReason;
        for reason in Reason::ALL {
            assert_eq!(Reason::from_name(reason.as_str()), Some(reason));
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), reason);
            assert!(
                ErrorReason::from_str_name(&format!("ERROR_REASON_{}", reason.as_str())).is_some(),
                "{reason:?} is not in error_reason.proto"
            );
        }
        // And the other way: every proto reason is one of ours, except
        // RECORD_EXISTS, which the server does not send yet.
        let mut value = 1;
        while let Ok(proto) = ErrorReason::try_from(value) {
            let name = proto.as_str_name().trim_start_matches("ERROR_REASON_");
            assert!(
                name == "RECORD_EXISTS" || Reason::from_name(name).is_some(),
                "{name} has no Reason"
            );
            value += 1;
        }
        assert_eq!(value as usize, Reason::ALL.len() + 2);
    }

    #[test]
    fn a_connection_the_server_ends_is_unavailable_not_internal() {
        for message in [
            "terminating connection due to administrator command",
            "terminating connection because of crash of another server process",
            "the database system is shutting down",
            "the database system is starting up",
            "database is locked",
        ] {
            assert_eq!(code_of(message), Code::Unavailable, "{message}");
        }
        assert_eq!(code_of("syntax error at or near \"x\""), Code::Internal);
    }
}
