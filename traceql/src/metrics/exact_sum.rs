//! An exact, mergeable sum of span values, so that `sum_over_time` and `avg_over_time` give the
//! same number whatever the split of the input into partials and whatever the merge order.
//!
//! Integers and durations are summed in `i128` (exact). Floats are kept as Shewchuk's
//! non-overlapping partials (the exact sum as a short list of `f64`s, the algorithm behind
//! Python's `math.fsum`), and [`ExactSum::value`] rounds the exact total once, correctly, so it
//! is a function of the multiset of inputs only. Infinities and NaN are kept apart (their IEEE
//! sum is order independent). The `fsum` crate implements the same algorithm but keeps its
//! partials private, and a partial must travel between processes, so it is written out here.

/// The exact sum of int, duration and float values (durations in nanoseconds, reported in
/// seconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExactSum {
    pub(crate) ints: i128,
    pub(crate) duration_nanos: i128,
    /// Non-overlapping, increasing magnitude, no zeros.
    pub(crate) float_partials: Vec<f64>,
    /// The sum of the non-finite inputs (0 when there was none).
    pub(crate) special: f64,
}

impl ExactSum {
    /// Adds an integer value.
    #[inline]
    pub fn add_int(&mut self, value: i64) {
        self.ints += i128::from(value);
    }

    /// Adds a duration in nanoseconds.
    #[inline]
    pub fn add_duration_nanos(&mut self, nanos: i64) {
        self.duration_nanos += i128::from(nanos);
    }

    /// Adds a float value.
    pub fn add_float(&mut self, value: f64) {
        if !value.is_finite() {
            self.special += value;
            return;
        }
        add_partial(&mut self.float_partials, value);
    }

    /// Adds another sum (exact).
    pub fn merge(&mut self, other: &ExactSum) {
        self.ints += other.ints;
        self.duration_nanos += other.duration_nanos;
        self.special += other.special;
        for partial in &other.float_partials {
            add_partial(&mut self.float_partials, *partial);
        }
    }

    /// The correctly rounded value of the exact sum (durations as seconds).
    pub fn value(&self) -> f64 {
        if self.special != 0.0 || self.special.is_nan() {
            return self.special;
        }
        let mut partials = self.float_partials.clone();
        for piece in split_i128(self.ints) {
            add_partial(&mut partials, piece);
        }
        let floats = round_partials(&partials);
        if self.duration_nanos == 0 {
            return floats;
        }
        floats + self.duration_nanos as f64 / 1e9
    }
}

/// Adds `value` to the partials exactly (Shewchuk's grow-expansion with zero elimination).
fn add_partial(partials: &mut Vec<f64>, value: f64) {
    let mut x = value;
    let mut kept = 0;
    for index in 0..partials.len() {
        let mut y = partials[index];
        if x.abs() < y.abs() {
            std::mem::swap(&mut x, &mut y);
        }
        let high = x + y;
        let low = y - (high - x);
        if low != 0.0 {
            partials[kept] = low;
            kept += 1;
        }
        x = high;
    }
    partials.truncate(kept);
    if x != 0.0 {
        partials.push(x);
    }
}

/// The sum of non-overlapping partials, correctly rounded (with the half-way correction that
/// `math.fsum` applies when the rounding of the top two partials is exactly half an ulp).
fn round_partials(partials: &[f64]) -> f64 {
    let Some((&top, rest)) = partials.split_last() else {
        return 0.0;
    };
    let mut high = top;
    let mut low = 0.0;
    let mut remaining = rest;
    while let Some((&next, below)) = remaining.split_last() {
        let x = high;
        let y = next;
        high = x + y;
        let y_rounded = high - x;
        low = y - y_rounded;
        remaining = below;
        if low != 0.0 {
            break;
        }
    }
    if let Some(&next) = remaining.last()
        && ((low < 0.0 && next < 0.0) || (low > 0.0 && next > 0.0))
    {
        let y = low * 2.0;
        let x = high + y;
        if y == x - high {
            high = x;
        }
    }
    high
}

/// An `i128` as at most three `f64`s whose exact sum is the integer.
fn split_i128(value: i128) -> impl Iterator<Item = f64> {
    let high = (value >> 64) as i64;
    let low = value as u64;
    let low_high = (low >> 32) as f64 * 4_294_967_296.0;
    let low_low = (low & 0xffff_ffff) as f64;
    let high_part = high as f64 * 18_446_744_073_709_551_616.0;
    [high_part, low_high, low_low]
        .into_iter()
        .filter(|piece| *piece != 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(values: &[f64]) -> ExactSum {
        let mut sum = ExactSum::default();
        for value in values {
            sum.add_float(*value);
        }
        sum
    }

    #[test]
    fn float_sums_are_exact_and_correctly_rounded() {
        assert_eq!(floats(&[1e100, 1.0, -1e100]).value(), 1.0);
        assert_eq!(floats(&[0.1; 10]).value(), 1.0);
        // the half-way case across several partials
        assert_eq!(
            floats(&[1e-16, 1.0, 1e16]).value(),
            1.000_000_000_000_000_2e16
        );
        assert_eq!(floats(&[]).value(), 0.0);
    }

    #[test]
    fn merge_order_does_not_change_the_value() {
        let values = [0.1, 0.2, 0.3, 1e-9, 123_456.789, -0.3, 7e15, 3.0];
        let whole = floats(&values).value();
        for split in 0..values.len() {
            let mut left = floats(&values[..split]);
            let right = floats(&values[split..]);
            let mut right_first = right.clone();
            right_first.merge(&left);
            left.merge(&right);
            assert_eq!(left.value(), whole);
            assert_eq!(right_first.value(), whole);
        }
    }

    #[test]
    fn ints_durations_and_specials() {
        let mut sum = ExactSum::default();
        sum.add_int(i64::MAX);
        sum.add_int(i64::MAX);
        sum.add_int(-i64::MAX);
        assert_eq!(sum.value(), i64::MAX as f64);
        let mut durations = ExactSum::default();
        durations.add_duration_nanos(1_500_000_000);
        durations.add_duration_nanos(500_000_000);
        assert_eq!(durations.value(), 2.0);
        let mut special = floats(&[1.0, f64::INFINITY]);
        assert_eq!(special.value(), f64::INFINITY);
        special.add_float(f64::NEG_INFINITY);
        assert!(special.value().is_nan());
    }
}
