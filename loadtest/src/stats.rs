//! Small statistics helpers for latency samples (seconds).

/// Linear-interpolated percentile `p` (0..=100) of `samples`.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = (sorted.len() - 1) as f64 * p.clamp(0.0, 100.0) / 100.0;
    let low = rank.floor() as usize;
    let high = (low + 1).min(sorted.len() - 1);
    Some(sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64))
}

/// p50 / p99 / max of a sample set, with its size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(samples: &[f64]) -> Option<Summary> {
        Some(Summary {
            count: samples.len(),
            p50: percentile(samples, 50.0)?,
            p95: percentile(samples, 95.0)?,
            p99: percentile(samples, 99.0)?,
            max: samples.iter().copied().fold(f64::MIN, f64::max),
        })
    }

    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "count": self.count,
            "p50": round_ms(self.p50),
            "p95": round_ms(self.p95),
            "p99": round_ms(self.p99),
            "max": round_ms(self.max),
        })
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={} p50={:.0}ms p95={:.0}ms p99={:.0}ms max={:.0}ms",
            self.count,
            self.p50 * 1000.0,
            self.p95 * 1000.0,
            self.p99 * 1000.0,
            self.max * 1000.0
        )
    }
}

/// Seconds rounded to the millisecond, for JSON output.
pub fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_percentiles() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[0.0, 10.0], 90.0), Some(9.0));
        let summary = Summary::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!((summary.count, summary.max), (4, 4.0));
    }
}
