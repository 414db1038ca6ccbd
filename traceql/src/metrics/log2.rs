//! The power-of-two histogram behind `histogram_over_time` and `quantile_over_time` (spec
//! §10.2), as Tempo computes it: a value `v ≥ 2` falls in the bucket whose upper bound is
//! `2^ceil(log2(v))`; durations bucket their nanoseconds and report the bound in seconds; values
//! below 2 and floats are not bucketed. Buckets are identified by their exponent, so per-bucket
//! counts add up exactly across partials. Quantiles interpolate exponentially inside a bucket.

/// The exponent `e` of the bucket `(2^(e-1), 2^e]` holding `value`, `None` below 2.
#[inline]
pub fn bucket_exponent(value: u64) -> Option<u8> {
    if value < 2 {
        return None;
    }
    // ceil(log2(v)) = bits needed for v - 1
    Some((64 - (value - 1).leading_zeros()) as u8)
}

/// What a bucket exponent measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BucketUnit {
    /// Nanoseconds, reported in seconds.
    Duration,
    /// Plain integers.
    Int,
}

impl BucketUnit {
    /// The bucket's upper bound as reported (`__bucket` label, quantile values).
    pub fn bound(self, exponent: u8) -> f64 {
        let bound = 2f64.powi(i32::from(exponent));
        match self {
            BucketUnit::Duration => bound / 1e9,
            BucketUnit::Int => bound,
        }
    }
}

/// The `q` quantile of a histogram given as `(upper bound, count)` sorted by bound, with
/// exponential interpolation inside the bucket where it falls; `NaN` for an empty histogram.
///
/// The number of samples to cover is `ceil(q · total)` (at least one); buckets are consumed
/// whole while they fit; the quantile is then `2^(lo + (hi − lo)·f)` where `hi` is log2 of the
/// bucket's bound, `lo` log2 of the previous non-empty bucket's bound (or `hi − 1` for the first
/// bucket) and `f` the fraction of the bucket's samples still needed.
pub fn quantile(q: f64, buckets: &[(f64, u64)]) -> f64 {
    let total: u64 = buckets.iter().map(|(_, count)| count).sum();
    if total == 0 || q.is_nan() || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    let wanted = ((q * total as f64).ceil() as u64).max(1);
    let mut covered = 0;
    let mut index = 0;
    for (position, (bound, count)) in buckets.iter().enumerate() {
        index = position;
        if covered + count > wanted {
            break;
        }
        covered += count;
        if covered == wanted {
            return *bound;
        }
    }
    let (bound, count) = buckets[index];
    let fraction = (wanted - covered) as f64 / count as f64;
    let high = bound.log2();
    let low = if index > 0 {
        buckets[index - 1].0.log2()
    } else {
        high - 1.0
    };
    2f64.powf(low + (high - low) * fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_round_up_to_powers_of_two() {
        assert_eq!(bucket_exponent(0), None);
        assert_eq!(bucket_exponent(1), None);
        assert_eq!(bucket_exponent(2), Some(1));
        assert_eq!(bucket_exponent(3), Some(2));
        assert_eq!(bucket_exponent(4), Some(2));
        assert_eq!(bucket_exponent(5), Some(3));
        assert_eq!(bucket_exponent(u64::MAX), Some(64));
        // spec: 100ms → 0.134217728 s
        let exponent = bucket_exponent(100_000_000).unwrap();
        assert_eq!(BucketUnit::Duration.bound(exponent), 0.134_217_728);
        assert_eq!(BucketUnit::Int.bound(bucket_exponent(200).unwrap()), 256.0);
    }

    #[test]
    fn quantiles_interpolate_exponentially() {
        // 4 samples in (1, 2], 4 in (2, 4]
        let buckets = [(2.0, 4), (4.0, 4)];
        // p50: 4 samples, exactly the first bucket
        assert_eq!(quantile(0.5, &buckets), 2.0);
        // p75: 6 samples, half of the second bucket: 2^(1 + 0.5)
        assert_eq!(quantile(0.75, &buckets), 2f64.powf(1.5));
        assert_eq!(quantile(1.0, &buckets), 4.0);
        // p0 reads one sample: a quarter of the first bucket, below it 2^(1-1)
        assert_eq!(quantile(0.0, &buckets), 2f64.powf(0.25));
        assert!(quantile(0.5, &[]).is_nan());
    }
}
