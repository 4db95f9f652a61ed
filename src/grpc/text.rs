//! The one text rule for every request: no string field of any request
//! message (nested and repeated ones included) may hold a control character
//! (C0, DEL, C1) or a bidirectional embedding, override or isolate
//! character. The server's codec applies it while it decodes a request, so
//! the rule runs before any handler, the same way on both backends, and a
//! field added to the protos is covered by the code `build.rs` generates.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

use crate::error::{Code, Error, Reason};

/// A message whose string fields can be checked against the text rule
/// (implemented by `build.rs` for every `roster.v1` message).
pub trait TextFields {
    /// Whether the message is the input of some RPC (checked on decode).
    const REQUEST: bool;
    /// The first string field, in field order, that holds a refused character.
    fn refused_text(&self, path: &FieldPath<'_>) -> Option<Refusal>;
}

/// The path of a field inside a request (`records[2].external_id`), built
/// on the stack while walking and rendered only for a refusal.
#[derive(Debug, Clone, Copy)]
pub struct FieldPath<'a> {
    parent: Option<&'a FieldPath<'a>>,
    name: &'static str,
    index: Option<usize>,
}

impl<'a> FieldPath<'a> {
    /// The request message itself.
    pub const ROOT: FieldPath<'static> = FieldPath {
        parent: None,
        name: "",
        index: None,
    };

    pub fn field(&'a self, name: &'static str) -> FieldPath<'a> {
        FieldPath {
            parent: Some(self),
            name,
            index: None,
        }
    }

    pub fn index(&'a self, name: &'static str, index: usize) -> FieldPath<'a> {
        FieldPath {
            parent: Some(self),
            name,
            index: Some(index),
        }
    }

    pub fn render(&self) -> String {
        let mut parts = Vec::new();
        let mut at = Some(self);
        while let Some(p) = at {
            if p.parent.is_some() {
                parts.push(match p.index {
                    Some(i) => format!("{}[{i}]", p.name),
                    None => p.name.to_owned(),
                });
            }
            at = p.parent;
        }
        parts.reverse();
        parts.join(".")
    }
}

/// A field that breaks the text rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: String,
    pub character: char,
}

impl Refusal {
    pub fn new(path: FieldPath<'_>, character: char) -> Self {
        Refusal {
            field: path.render(),
            character,
        }
    }

    pub fn into_error(self) -> Error {
        Error::invalid(
            self.field,
            format!(
                "must not contain control or bidirectional formatting characters (found U+{:04X})",
                u32::from(self.character)
            ),
        )
    }
}

/// Checks a decoded request against the text rule.
pub fn check<M: TextFields>(message: &M) -> Result<(), Error> {
    match message.refused_text(&FieldPath::ROOT) {
        Some(refusal) => Err(refusal.into_error()),
        None => Ok(()),
    }
}

#[allow(clippy::all)]
mod generated {
    use super::{FieldPath, Refusal, TextFields};
    use crate::domain::refused_char;
    include!(concat!(env!("OUT_DIR"), "/roster.v1.text.rs"));
}

/// tonic's prost codec, with requests checked against the text rule as they
/// are decoded. Responses (decoded by clients) are not checked.
#[derive(Debug, Clone)]
pub struct CheckedCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for CheckedCodec<T, U> {
    fn default() -> Self {
        CheckedCodec(PhantomData)
    }
}

impl<T, U> Codec for CheckedCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + TextFields + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = CheckedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder(PhantomData)
    }
}

#[derive(Debug, Clone)]
pub struct CheckedDecoder<U>(PhantomData<U>);

impl<U: Message + Default + TextFields> Decoder for CheckedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        match U::decode(buf) {
            Ok(message) if U::REQUEST => {
                check(&message)?;
                Ok(Some(message))
            }
            Ok(message) => Ok(Some(message)),
            // A request that is not valid protobuf (invalid UTF-8 in a
            // string, a truncated field) is the caller's fault.
            Err(e) if U::REQUEST => Err(Error::new(
                Code::InvalidArgument,
                Reason::InvalidArgument,
                format!("the request is not a valid protobuf message: {e}"),
            )
            .into()),
            Err(e) => Err(Status::internal(e.to_string())),
        }
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::refused_char;
    use crate::proto::v1 as pb;

    #[test]
    fn paths_name_nested_and_repeated_fields() {
        let request = pb::RegisterWorkRecordsRequest {
            records: vec![
                pb::WorkRecordInput {
                    external_id: "fine".into(),
                    ..Default::default()
                },
                pb::WorkRecordInput {
                    external_id: "bad\u{0}".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let refusal = request.refused_text(&FieldPath::ROOT);
        assert_eq!(
            refusal,
            Some(Refusal {
                field: "records[1].external_id".into(),
                character: '\u{0}'
            })
        );
        const { assert!(<pb::RegisterWorkRecordsRequest as TextFields>::REQUEST) };
        const { assert!(!<pb::User as TextFields>::REQUEST) };
    }

    #[test]
    fn clean_requests_pass() {
        let request = pb::ListUsersRequest {
            query: "Ann Ö 名前 \u{200F}".into(),
            ..Default::default()
        };
        assert_eq!(check(&request), Ok(()));
        assert_eq!(refused_char("a\u{202E}b"), Some('\u{202E}'));
    }
}
