//! Time, injectable so that trials, periods and proration can be tested.

use std::sync::{Arc, Mutex};

use chrono::{NaiveDateTime, Utc};

/// The current time in UTC, without zone (the store's `Timestamp`).
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> NaiveDateTime;
}

/// The machine clock, truncated to microseconds (both databases keep that).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        truncate_micros(Utc::now().naive_utc())
    }
}

/// A clock tests move by hand.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<NaiveDateTime>>);

impl ManualClock {
    pub fn new(start: NaiveDateTime) -> Self {
        ManualClock(Arc::new(Mutex::new(truncate_micros(start))))
    }

    pub fn set(&self, to: NaiveDateTime) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = truncate_micros(to);
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> NaiveDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn truncate_micros(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    let nanos = t.nanosecond() / 1000 * 1000;
    t.with_nanosecond(nanos).unwrap_or(t)
}
