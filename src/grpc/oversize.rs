//! tonic refuses a request message above the size limit with OUT_OF_RANGE;
//! gRPC's convention (and every other gRPC implementation) says
//! RESOURCE_EXHAUSTED. This layer rewrites that one answer on the way out,
//! recognised by tonic's message: Roster's own OUT_OF_RANGE (a StreamEvents
//! cursor older than the oldest kept event) passes unchanged.

use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderValue;

#[derive(Debug, Clone, Copy, Default)]
pub struct OversizeLayer;

impl<S> tower::Layer<S> for OversizeLayer {
    type Service = Oversize<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Oversize { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Oversize<S> {
    inner: S,
}

const OUT_OF_RANGE: &str = "11";
const RESOURCE_EXHAUSTED: &str = "8";
/// The start of tonic's message for a request above the limit, as it goes
/// out (percent-encoded).
const TONIC_SIZE_MESSAGE: &[u8] = b"Error,%20decoded%20message%20length%20too%20large";

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Oversize<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Send,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            let headers = response.headers_mut();
            let oversize = headers.get("grpc-status").map(HeaderValue::as_bytes)
                == Some(OUT_OF_RANGE.as_bytes())
                && headers
                    .get("grpc-message")
                    .is_some_and(|m| m.as_bytes().starts_with(TONIC_SIZE_MESSAGE));
            if oversize {
                headers.insert("grpc-status", HeaderValue::from_static(RESOURCE_EXHAUSTED));
                headers.insert(
                    "grpc-message",
                    HeaderValue::from_static(
                        "request%20message%20larger%20than%20the%20server%20accepts%20(4%20MiB)",
                    ),
                );
            }
            Ok(response)
        })
    }
}
