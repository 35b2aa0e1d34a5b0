//! Publisher clocks: 32-bit RTMP millisecond timestamps unwrapped into a
//! monotonic 64-bit timeline, and wall-clock formatting for PROGRAM-DATE-TIME.

/// Unwraps a 32-bit millisecond clock that wraps after about 49.7 days.
/// Each step is read as a signed 32-bit delta, so a wrap forwards and a small
/// step backwards are both handled without a jump of 2^32.
#[derive(Debug, Default, Clone)]
pub struct TimestampUnwrapper {
    last_raw: Option<u32>,
    last_unwrapped: i64,
}

impl TimestampUnwrapper {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn unwrap(&mut self, raw: u32) -> i64 {
        let value = match self.last_raw {
            None => i64::from(raw),
            Some(last) => self.last_unwrapped + i64::from(raw.wrapping_sub(last) as i32),
        };
        self.last_raw = Some(raw);
        self.last_unwrapped = value;
        value
    }
}

/// Formats Unix milliseconds as an RFC 3339 UTC date with milliseconds,
/// the form EXT-X-PROGRAM-DATE-TIME uses.
pub fn format_rfc3339_ms(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let hours = ms_of_day / 3_600_000;
    let minutes = ms_of_day / 60_000 % 60;
    let seconds = ms_of_day / 1000 % 60;
    let millis = ms_of_day % 1000;
    format!("{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{millis:03}Z")
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwraps_across_the_32_bit_boundary() {
        let mut clock = TimestampUnwrapper::new();
        assert_eq!(clock.unwrap(u32::MAX - 10), i64::from(u32::MAX - 10));
        assert_eq!(clock.unwrap(5), i64::from(u32::MAX) + 6);
        assert_eq!(clock.unwrap(40), i64::from(u32::MAX) + 41);
    }

    #[test]
    fn small_backward_steps_stay_small() {
        let mut clock = TimestampUnwrapper::new();
        clock.unwrap(1000);
        assert_eq!(clock.unwrap(990), 990);
        assert_eq!(clock.unwrap(1033), 1033);
    }

    #[test]
    fn formats_dates() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(format_rfc3339_ms(1_795_239_296_789), "2026-11-21T05:34:56.789Z");
        assert_eq!(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
