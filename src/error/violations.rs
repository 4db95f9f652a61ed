//! Field violations of a request, collected so that one INVALID_ARGUMENT
//! names every bad field.

use std::fmt;

use super::{Error, FieldViolation, Result};

/// Collects field violations so that every bad field is reported at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a violation of `field`. A field's name is any `Display`
    /// (a `&str`, or a name built from an index) and is written out only
    /// here, so a valid field costs no name: BulkAddUsers names seven
    /// fields of each of up to 1,000 users.
    pub fn add(&mut self, field: impl fmt::Display, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.to_string(),
            description: description.into(),
        });
    }

    /// Runs a parse and records its error under `field`.
    pub fn check<T, E: fmt::Display>(
        &mut self,
        field: impl fmt::Display,
        result: std::result::Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    pub fn into_result(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid_fields(self.0))
        }
    }

    /// The parsed values once every field was checked: INVALID_ARGUMENT
    /// with every violation, or the values. A value is missing only after
    /// [`Violations::check`] recorded why, so with no violation all are
    /// there (should one not be, the call fails INTERNAL, here only).
    pub fn finish<T: AllParsed>(self, parsed: T) -> Result<T::Values> {
        self.into_result()?;
        parsed.all_parsed().ok_or_else(Error::internal)
    }
}

/// Options of parsed fields, all present or not (see [`Violations::finish`]).
pub trait AllParsed {
    type Values;
    fn all_parsed(self) -> Option<Self::Values>;
}

impl<A> AllParsed for Option<A> {
    type Values = A;
    fn all_parsed(self) -> Option<A> {
        self
    }
}

impl<A, B> AllParsed for (Option<A>, Option<B>) {
    type Values = (A, B);
    fn all_parsed(self) -> Option<(A, B)> {
        Some((self.0?, self.1?))
    }
}

impl<A, B, C> AllParsed for (Option<A>, Option<B>, Option<C>) {
    type Values = (A, B, C);
    fn all_parsed(self) -> Option<(A, B, C)> {
        Some((self.0?, self.1?, self.2?))
    }
}

impl<A, B, C, D> AllParsed for (Option<A>, Option<B>, Option<C>, Option<D>) {
    type Values = (A, B, C, D);
    fn all_parsed(self) -> Option<(A, B, C, D)> {
        Some((self.0?, self.1?, self.2?, self.3?))
    }
}
