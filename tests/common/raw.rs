//! Raw message bytes over a real channel: for requests no generated client
//! would build (fuzzing, fields set by their descriptor).

use bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Status, Streaming};

use super::{TestApp, authed};

/// Sends and receives raw message bytes.
#[derive(Default)]
pub struct RawCodec;
pub struct RawEncoder;
pub struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

async fn ready(
    app: &TestApp,
    path: &str,
) -> Result<
    (
        tonic::client::Grpc<tonic::transport::Channel>,
        http::uri::PathAndQuery,
    ),
    Status,
> {
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path = path.parse().map_err(|_| Status::internal("path"))?;
    Ok((grpc, path))
}

/// A unary call with a raw body (`path` is `/package.Service/Method`).
pub async fn unary(
    app: &TestApp,
    path: &str,
    body: Vec<u8>,
    token: &str,
) -> Result<Vec<u8>, Status> {
    let (mut grpc, path) = ready(app, path).await?;
    grpc.unary(authed(body, token), path, RawCodec)
        .await
        .map(|r| r.into_inner())
}

/// A server-streaming call with a raw body; the error of the call itself.
pub async fn server_streaming(
    app: &TestApp,
    path: &str,
    body: Vec<u8>,
    token: &str,
) -> Result<Streaming<Vec<u8>>, Status> {
    let (mut grpc, path) = ready(app, path).await?;
    grpc.server_streaming(authed(body, token), path, RawCodec)
        .await
        .map(|r| r.into_inner())
}
