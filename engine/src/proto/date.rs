//! The per-worker `Server:` + `Date:` header block, re-rendered at most once a second.
//!
//! Every response starts its headers with the same two lines; a worker keeps them pre-rendered in
//! one array and copies them with a single `memcpy`. The date is formatted by hand (IMF-fixdate,
//! RFC 9110 §5.6.7) from a Unix timestamp, so the hot path never calls into a time library.

const OK_LINE: &[u8] = b"HTTP/1.1 200 OK\r\n";
const PREFIX: &[u8] = b"Server: strela\r\nDate: ";
const DATE_LEN: usize = 29; // "Sun, 06 Nov 1994 08:49:37 GMT"
/// Length of the rendered block: `Server: strela\r\nDate: <29 bytes>\r\n`.
pub const BLOCK_LEN: usize = PREFIX.len() + DATE_LEN + 2;
/// Length of the `200 OK` status line followed by the block.
pub const HEAD_200_LEN: usize = OK_LINE.len() + BLOCK_LEN;
const D0: usize = OK_LINE.len() + PREFIX.len(); // where the date starts in `head`

/// Pre-rendered `HTTP/1.1 200 OK` status line, `Server` and `Date` header lines for the current
/// second: a `200` response starts with one fixed-size copy of it.
#[derive(Clone, Debug)]
pub struct DateCache {
    secs: u64,
    head: [u8; HEAD_200_LEN],
}

impl DateCache {
    /// A cache rendered for `unix_secs`.
    pub fn new(unix_secs: u64) -> Self {
        let mut c = DateCache {
            secs: u64::MAX,
            head: [0; HEAD_200_LEN],
        };
        c.head[..OK_LINE.len()].copy_from_slice(OK_LINE);
        c.head[OK_LINE.len()..D0].copy_from_slice(PREFIX);
        c.head[HEAD_200_LEN - 2..].copy_from_slice(b"\r\n");
        c.refresh(unix_secs);
        c
    }

    /// Re-renders the date if `unix_secs` is a different second; otherwise does nothing.
    #[inline]
    pub fn refresh(&mut self, unix_secs: u64) {
        if unix_secs != self.secs {
            self.secs = unix_secs;
            let mut d = [0u8; DATE_LEN];
            format_imf_fixdate(unix_secs, &mut d);
            self.head[D0..D0 + DATE_LEN].copy_from_slice(&d);
        }
    }

    /// `HTTP/1.1 200 OK\r\n` followed by the block.
    #[inline]
    pub fn head_200(&self) -> &[u8; HEAD_200_LEN] {
        &self.head
    }

    /// The `Server: strela\r\nDate: ...\r\n` block.
    #[inline]
    pub fn block(&self) -> &[u8] {
        &self.head[OK_LINE.len()..]
    }

    /// Just the 29-byte date value.
    pub fn date(&self) -> &[u8] {
        &self.head[D0..D0 + DATE_LEN]
    }
}

/// Formats `unix_secs` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into `out`.
pub fn format_imf_fixdate(unix_secs: u64, out: &mut [u8; DATE_LEN]) {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let (year, month, day) = civil_from_days(days as i64);
    let year = year.clamp(0, 9999) as u64;

    let two = |v: u64| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
    out[0..3].copy_from_slice(DAYS[(days % 7) as usize]);
    out[3..5].copy_from_slice(b", ");
    out[5..7].copy_from_slice(&two(day as u64));
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    out[11] = b' ';
    out[12..14].copy_from_slice(&two(year / 100));
    out[14..16].copy_from_slice(&two(year % 100));
    out[16] = b' ';
    out[17..19].copy_from_slice(&two(hh));
    out[19] = b':';
    out[20..22].copy_from_slice(&two(mm));
    out[22] = b':';
    out[23..25].copy_from_slice(&two(ss));
    out[25..29].copy_from_slice(b" GMT");
}

/// `unix_secs` in the common log format's timestamp form, UTC: `01/Dec/2026:07:58:49 +0000`.
pub fn format_clf(unix_secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{d:02}/{}/{y:04}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `unix_secs` as an RFC 3339 UTC timestamp, e.g. `2026-11-23T23:59:01Z` (for logs).
pub fn format_rfc3339(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Parses an HTTP date (RFC 9110 §5.6.7) into seconds since the Unix epoch: the IMF-fixdate
/// form every sender must use (`Sun, 06 Nov 1994 08:49:37 GMT`). The obsolete RFC 850 and
/// asctime forms, and anything malformed or before 1970, give `None` — a conditional request
/// with such a date is then answered as if the header were absent, as RFC 9110 allows.
pub fn parse_imf_fixdate(v: &[u8]) -> Option<u64> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    let v = v.trim_ascii();
    if v.len() != DATE_LEN || &v[3..5] != b", " || &v[25..] != b" GMT" {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        v[r].iter().try_fold(0u64, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
        })
    };
    let sep = |i: usize, c: u8| v[i] == c;
    if !(sep(7, b' ') && sep(11, b' ') && sep(16, b' ') && sep(19, b':') && sep(22, b':')) {
        return None;
    }
    let day = num(5..7)?;
    let month = MONTHS.iter().position(|m| &v[8..11] == *m)? as u32 + 1;
    let year = num(12..16)? as i64;
    let (hh, mm, ss) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if year < 1970 || day == 0 || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day as u32)?;
    // The weekday must agree with the date.
    if &v[0..3] != DAYS[(days % 7) as usize] {
        return None;
    }
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss.min(59))
}

/// (year, month 1..=12, day) → days since 1970-01-01, or `None` for a day the month lacks.
fn days_from_civil(y: i64, m: u32, d: u32) -> Option<u64> {
    const LEN: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let max = LEN[(m - 1) as usize] + u32::from(m == 2 && leap);
    if d > max {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).ok()
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), proleptic Gregorian calendar.
/// The era-based method: shift the year to start in March so the leap day is the year's last.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400 + 86_399), "2000-02-29T23:59:59Z");
    }

    #[test]
    fn common_log_format_timestamps() {
        assert_eq!(format_clf(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(format_clf(784_111_777), "06/Nov/1994:08:49:37 +0000");
        // 2026-12-01T07:58:49Z, the example.
        assert_eq!(format_clf(1_796_111_929), "01/Dec/2026:07:58:49 +0000");
    }

    fn fmt(secs: u64) -> String {
        let mut d = [0u8; DATE_LEN];
        format_imf_fixdate(secs, &mut d);
        String::from_utf8(d.to_vec()).unwrap()
    }

    #[test]
    fn formats_known_dates() {
        assert_eq!(fmt(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(fmt(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT"); // RFC 9110's example
        assert_eq!(fmt(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT"); // leap day, century leap year
        assert_eq!(fmt(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
        assert_eq!(fmt(4_102_444_800), "Fri, 01 Jan 2100 00:00:00 GMT");
    }

    #[test]
    fn every_day_for_ten_years_round_trips_through_the_calendar() {
        // Walk day by day and check the date advances by exactly one calendar day.
        let mut prev = civil_from_days(0);
        for day in 1..3653 {
            let cur = civil_from_days(day);
            let next_expected = if cur.2 == 1 {
                assert!(prev.2 >= 28, "month ended early at {prev:?}");
                if cur.1 == 1 {
                    (prev.0 + 1, 1, 1)
                } else {
                    (prev.0, prev.1 + 1, 1)
                }
            } else {
                (prev.0, prev.1, prev.2 + 1)
            };
            assert_eq!(cur, next_expected);
            prev = cur;
        }
    }

    #[test]
    fn block_refreshes_only_on_a_new_second() {
        let mut c = DateCache::new(0);
        assert_eq!(
            c.block(),
            &b"Server: strela\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"[..]
        );
        c.refresh(1);
        assert_eq!(c.date(), b"Thu, 01 Jan 1970 00:00:01 GMT");
    }

    #[test]
    fn http_dates_parse_back_to_what_was_formatted() {
        for secs in [0u64, 784_111_777, 951_782_400, 1_700_000_000, 4_102_444_799] {
            let mut d = [0u8; DATE_LEN];
            format_imf_fixdate(secs, &mut d);
            assert_eq!(
                parse_imf_fixdate(&d),
                Some(secs),
                "{}",
                String::from_utf8_lossy(&d)
            );
        }
        assert_eq!(
            parse_imf_fixdate(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        for bad in [
            &b"Mon, 06 Nov 1994 08:49:37 GMT"[..], // wrong weekday
            b"Sunday, 06-Nov-94 08:49:37 GMT",     // RFC 850
            b"Sun Nov  6 08:49:37 1994",           // asctime
            b"Sun, 31 Feb 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 24:49:37 GMT",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
            b"Thu, 01 Jan 1969 00:00:00 GMT",
            b"",
            b"garbage",
        ] {
            assert_eq!(
                parse_imf_fixdate(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
