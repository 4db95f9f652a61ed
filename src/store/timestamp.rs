//! Reading `Timestamp` columns of users without chrono's format parser.
//!
//! SQLite keeps timestamps as text, `YYYY-MM-DD HH:MM:SS[.ffffff]` (the
//! shape diesel writes). diesel reads them with chrono's `parse_from_str`,
//! which re-reads its format string on every call: a tenth of the CPU time
//! of a 50-user ListUsers page (three timestamps a user). That one shape
//! is read by hand here; anything else goes to diesel's own parser.
//! PostgreSQL's binary timestamps go to diesel unchanged.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::sql_types::{Nullable, Timestamp};
use diesel::sqlite::{Sqlite, SqliteType};

/// A `Timestamp` column, for `#[diesel(deserialize_as = StoredTime)]`.
#[derive(diesel::deserialize::FromSqlRow)]
pub struct StoredTime(NaiveDateTime);

/// A nullable `Timestamp` column (`deserialize_as = MaybeStoredTime`).
#[derive(diesel::deserialize::FromSqlRow)]
pub struct MaybeStoredTime(Option<NaiveDateTime>);

impl From<StoredTime> for NaiveDateTime {
    fn from(time: StoredTime) -> Self {
        time.0
    }
}

impl From<MaybeStoredTime> for Option<NaiveDateTime> {
    fn from(time: MaybeStoredTime) -> Self {
        time.0
    }
}

impl FromSql<Timestamp, Sqlite> for StoredTime {
    fn from_sql(mut value: diesel::sqlite::SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        if value.value_type() == Some(SqliteType::Text)
            && let Some(time) = parse_sqlite_text(value.read_text())
        {
            return Ok(StoredTime(time));
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(StoredTime)
    }
}

impl FromSql<Timestamp, Pg> for StoredTime {
    fn from_sql(value: diesel::pg::PgValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(StoredTime)
    }
}

impl<DB> FromSql<Nullable<Timestamp>, DB> for MaybeStoredTime
where
    DB: diesel::backend::Backend,
    StoredTime: FromSql<Timestamp, DB>,
{
    fn from_sql(value: DB::RawValue<'_>) -> deserialize::Result<Self> {
        StoredTime::from_sql(value).map(|time| MaybeStoredTime(Some(time.0)))
    }

    fn from_nullable_sql(value: Option<DB::RawValue<'_>>) -> deserialize::Result<Self> {
        match value {
            Some(value) => Self::from_sql(value),
            None => Ok(MaybeStoredTime(None)),
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional `.` and 1–9 fraction digits;
/// None for any other shape (or an impossible date or time).
pub fn parse_sqlite_text(text: &str) -> Option<NaiveDateTime> {
    let bytes = text.as_bytes();
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b' '
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0_u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let nanos = match &bytes[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let value = number(20..bytes.len())?;
            value * 10_u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
    let time =
        NaiveTime::from_hms_nano_opt(number(11..13)?, number(14..16)?, number(17..19)?, nanos)?;
    Some(NaiveDateTime::new(date, time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono(text: &str) -> Option<NaiveDateTime> {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()
    }

    #[test]
    fn reads_what_diesel_writes_like_chrono_does() {
        let written = chrono("2026-11-28 17:01:21.134277").map(|t| t.to_string());
        assert_eq!(written.as_deref(), Some("2026-11-28 17:01:21.134277"));
        for text in [
            "2026-11-28 17:01:21.134277",
            "2026-11-28 17:01:21",
            "2026-11-28 17:01:21.1",
            "2026-11-28 17:01:21.123456789",
            "2024-02-29 00:00:00",
            "1999-12-31 23:59:59.999",
        ] {
            assert!(chrono(text).is_some(), "{text}");
            assert_eq!(parse_sqlite_text(text), chrono(text), "{text}");
        }
    }

    #[test]
    fn other_shapes_are_left_to_diesel() {
        for text in [
            "",
            "2026-11-28",
            "2026-11-28T17:01:21",
            "2026-11-28 17:01:21.",
            "2026-11-28 17:01:21.1234567890",
            "2026-11-28 17:01:21Z",
            "2026-11-28 17:01:21+01:00",
            "2026-02-30 17:01:21",
            "2026-11-28 24:01:21",
            "2026-1x-28 17:01:21",
            "２026-11-28 17:01:21",
        ] {
            assert_eq!(parse_sqlite_text(text), None, "{text}");
        }
    }
}
