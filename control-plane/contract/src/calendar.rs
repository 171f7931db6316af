//! Calendar months in UTC: the period of monthly quotas, budgets and (later)
//! invoices. Both planes must cut months at the same instant.

use chrono::{DateTime, Datelike, TimeZone, Utc};

/// The UTC month containing `ms` (unix milliseconds): its `YYYY-MM` name,
/// its first millisecond and the first millisecond of the next month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Month {
    /// `YYYY-MM`.
    pub name: String,
    /// First instant, unix ms.
    pub start_ms: i64,
    /// First instant of the next month, unix ms.
    pub end_ms: i64,
}

fn first_of(year: i32, month: u32) -> i64 {
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .map_or(0, |t| t.timestamp_millis())
}

/// The month containing `ms`.
pub fn month_of(ms: i64) -> Month {
    let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    let (y, m) = (t.year(), t.month());
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Month {
        name: format!("{y:04}-{m:02}"),
        start_ms: first_of(y, m),
        end_ms: first_of(ny, nm),
    }
}

/// The month named `YYYY-MM`, `None` when the name is not one.
pub fn month_named(name: &str) -> Option<Month> {
    let (y, m) = name.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
    if !(1970..=9998).contains(&y) || !(1..=12).contains(&m) {
        return None;
    }
    Some(month_of(first_of(y, m)))
}

/// The month before `m`.
pub fn previous(m: &Month) -> Month {
    month_of(m.start_ms - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_cut_at_utc_midnight() {
        // 2026-11-25T18:00:00Z
        let m = month_of(1_795_629_600_000);
        assert_eq!(m.name, "2026-11");
        assert_eq!(m.start_ms, 1_793_491_200_000); // 2026-11-01T00:00:00Z
        assert_eq!(m.end_ms, 1_796_083_200_000); // 2026-12-01T00:00:00Z
        let dec = month_of(1_796_083_200_000 + 5);
        assert_eq!(dec.name, "2026-12");
        assert_eq!(month_of(dec.end_ms).name, "2027-01");
        assert_eq!(month_of(dec.end_ms - 1).name, "2026-12");
        assert_eq!(month_named("2026-11"), Some(m.clone()));
        assert_eq!(previous(&dec), m);
        for bad in ["2026-13", "2026-1", "26-11", "abcd-ef", "2026-00", ""] {
            assert_eq!(month_named(bad), None, "{bad}");
        }
    }
}
