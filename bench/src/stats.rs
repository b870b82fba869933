//! Order statistics of latency samples.
use std::time::Duration;

/// Median, 99th percentile and count of a set of durations.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub median: Duration,
    pub p99: Duration,
    pub samples: usize,
}

impl Summary {
    /// `None` for no samples. Percentiles are nearest-rank.
    pub fn of(samples: &[Duration]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        Some(Summary {
            median: percentile(&sorted, 50.0),
            p99: percentile(&sorted, 99.0),
            samples: sorted.len(),
        })
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], percent: f64) -> Duration {
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Microseconds with one decimal.
pub fn micros(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1e6)
}

/// Milliseconds with two decimals.
pub fn millis(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let summary = Summary::of(&samples).unwrap();
        assert_eq!(summary.median, Duration::from_micros(50));
        assert_eq!(summary.p99, Duration::from_micros(99));
        assert_eq!(summary.samples, 100);
        let one = Summary::of(&[Duration::from_millis(3)]).unwrap();
        assert_eq!(
            (one.median, one.p99),
            (Duration::from_millis(3), Duration::from_millis(3))
        );
        assert!(Summary::of(&[]).is_none());
    }
}
