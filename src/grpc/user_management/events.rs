//! The event log: StreamEvents, ListEvents.

use super::{ResponseStream, UserManagementApi};
use crate::auth::principal::Access;
use crate::error::Violations;
use crate::grpc::{convert, principal};
use crate::proto::v1 as pb;
use crate::store::EventFilter;
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
    let filter = event_filter(&mut v, &r.event_types, &r.user_id);
    v.into_result()?;
    let events = api
        .roster
        .events
        .stream_events(
            &caller.authorize(&account_id, Access::Read)?,
            r.after_sequence,
            r.follow,
            filter,
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

fn event_filter(v: &mut Violations, types: &[i32], user_id: &str) -> EventFilter {
    EventFilter {
        types: convert::event_types_from_proto(v, "event_types", types),
        user_id: convert::optional_id(v, "user_id", user_id),
    }
}

pub(super) async fn list_events(
    api: &UserManagementApi,
    request: Request<pb::ListEventsRequest>,
) -> Result<Response<pb::ListEventsResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    let filter = event_filter(&mut v, &r.event_types, &r.user_id);
    v.into_result()?;
    let (events, next_page_token) = api
        .roster
        .events
        .list_events(
            &caller.authorize(&account_id, Access::Read)?,
            r.after_sequence,
            r.page_size,
            &r.page_token,
            &filter,
        )
        .await?;
    Ok(Response::new(pb::ListEventsResponse {
        events: events.iter().map(convert::event).collect(),
        next_page_token,
    }))
}
