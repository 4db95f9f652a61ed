//! The event log: StreamEvents.

use super::{ResponseStream, UserManagementApi};
use crate::auth::principal::Access;
use crate::error::Violations;
use crate::grpc::{convert, principal};
use crate::proto::v1 as pb;
use tokio_stream::StreamExt as _;
use tonic::{Request, Response, Status};

pub(super) async fn stream_events(
    api: &UserManagementApi,
    request: Request<pb::StreamEventsRequest>,
) -> Result<Response<ResponseStream<pb::StreamEventsResponse>>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    v.into_result()?;
    let events = api
        .roster
        .events
        .stream_events(
            &caller.authorize(&account_id, Access::Read)?,
            r.after_sequence,
            r.follow,
        )
        .await?;
    let stream = tokio_stream::wrappers::ReceiverStream::new(events).map(|item| {
        item.map(|row| pb::StreamEventsResponse {
            event: Some(convert::event(&row)),
        })
        .map_err(Status::from)
    });
    Ok(Response::new(Box::pin(stream)))
}
