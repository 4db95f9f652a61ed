//! tonic refuses a request message above the size limit with OUT_OF_RANGE;
//! gRPC's convention (and every other gRPC implementation) says
//! RESOURCE_EXHAUSTED. Roster itself never answers OUT_OF_RANGE, so this
//! layer rewrites that one status on the way out.

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
            if headers.get("grpc-status").map(HeaderValue::as_bytes)
                == Some(OUT_OF_RANGE.as_bytes())
            {
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
