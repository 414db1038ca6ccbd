//! Time bucketing (spec §10.1): alignment, right-closed intervals, sample timestamps, the
//! frontend's extra leading interval, instant windows and the default step.

use super::*;
use crate::metrics::default_step_nano;

#[test]
fn intervals_are_right_closed() {
    // 3 intervals of 60 s from T0: (T0, T0+60], (T0+60, T0+120], (T0+120, T0+180]
    let window = range(3, 60);
    assert_eq!(window.intervals(), 3);
    assert_eq!(
        window.interval_of(T0),
        None,
        "a span at exactly start is outside"
    );
    assert_eq!(window.interval_of(T0 + 1), Some(0));
    assert_eq!(
        window.interval_of(T0 + 60 * SECOND),
        Some(0),
        "an interval end is inside"
    );
    assert_eq!(window.interval_of(T0 + 60 * SECOND + 1), Some(1));
    assert_eq!(
        window.interval_of(T0 + 180 * SECOND),
        Some(2),
        "end is inside"
    );
    assert_eq!(window.interval_of(T0 + 180 * SECOND + 1), None);
    // the sample timestamp is the interval end, in ms
    assert_eq!(
        window.timestamp_ms_of(0),
        ((T0 + 60 * SECOND) / 1_000_000) as i64
    );
    assert_eq!(
        window.timestamp_ms_of(2),
        ((T0 + 180 * SECOND) / 1_000_000) as i64
    );
}

#[test]
fn ranges_align_to_the_step_and_the_frontend_adds_a_leading_interval() {
    let window = TimeWindow::range(T0 + 10 * SECOND, T0 + 130 * SECOND, 60 * SECOND).unwrap();
    assert_eq!(window.start_unix_nano(), T0);
    assert_eq!(window.end_unix_nano(), T0 + 180 * SECOND);
    assert_eq!(window.intervals(), 3);
    let frontend =
        TimeWindow::for_range_request(T0 + 10 * SECOND, T0 + 130 * SECOND, 60 * SECOND).unwrap();
    assert_eq!(frontend.start_unix_nano(), T0 - 60 * SECOND);
    assert_eq!(frontend.intervals(), 4);
}

#[test]
fn instant_windows_are_one_closed_interval() {
    let window = TimeWindow::instant(T0, T0 + 600 * SECOND).unwrap();
    assert_eq!(window.intervals(), 1);
    assert_eq!(window.interval_of(T0), Some(0));
    assert_eq!(window.interval_of(T0 + 600 * SECOND), Some(0));
    assert_eq!(window.interval_of(T0 - 1), None);
    assert_eq!(window.step_seconds(), 600.0);
}

#[test]
fn bad_windows_are_errors() {
    for (start, end, step) in [
        (T0, T0, SECOND),
        (T0 + 1, T0, SECOND),
        (T0, T0 + SECOND, 0),
        (0, T0, SECOND),
    ] {
        let error = TimeWindow::range(start, end, step).unwrap_err();
        assert_eq!(
            error.code(),
            contrail_proto::ErrorCode::BadRequest,
            "{error}"
        );
    }
    assert_eq!(
        TimeWindow::range(T0 + SECOND, T0, SECOND)
            .unwrap_err()
            .to_string(),
        "end must be greater than start"
    );
}

#[test]
fn default_step_aims_at_240_points() {
    let hour = 3600 * SECOND;
    // 1 h / 240 = 15 s
    assert_eq!(default_step_nano(T0, T0 + hour), 15 * SECOND);
    // 24 h / 240 = 6 min, rounded down to a multiple of 5 min
    assert_eq!(default_step_nano(T0, T0 + 24 * hour), 300 * SECOND);
    // 30 d / 240 = 3 h
    assert_eq!(default_step_nano(T0, T0 + 720 * hour), 3 * hour);
    // 10 min / 240 = 2.5 s, rounded down to 1 s multiples
    assert_eq!(default_step_nano(T0, T0 + 600 * SECOND), 2 * SECOND);
    // 2 min / 240 = 0.5 s: at least 1 s
    assert_eq!(default_step_nano(T0, T0 + 120 * SECOND), SECOND);
    // under a minute: multiples of 50 ms (30 s / 240 = 125 ms → 100 ms), at least 50 ms
    assert_eq!(default_step_nano(T0, T0 + 30 * SECOND), 100_000_000);
    assert_eq!(default_step_nano(T0, T0 + SECOND), 50_000_000);
}

#[test]
fn the_hot_loop_mapper_agrees_with_interval_of() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for step in [
        1,
        7,
        50_000_000,
        60 * SECOND,
        3600 * SECOND,
        86_400 * SECOND + 13,
    ] {
        let window = TimeWindow::range(T0, T0 + 10_000 * step, step).unwrap();
        let mapper = window.mapper();
        let edges = (0..=10_001u64).flat_map(|index| {
            let border = window.start_unix_nano() + index * step;
            [border.saturating_sub(1), border, border + 1]
        });
        for start in edges {
            assert_eq!(
                mapper.interval_of(start),
                window.interval_of(start),
                "{step} {start}"
            );
        }
        for _ in 0..10_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let start = window.start_unix_nano() + state % (10_001 * step);
            assert_eq!(
                mapper.interval_of(start),
                window.interval_of(start),
                "{step} {start}"
            );
        }
    }
    let instant = TimeWindow::instant(T0, T0 + SECOND).unwrap();
    assert_eq!(instant.mapper().interval_of(T0), Some(0));
    assert_eq!(instant.mapper().interval_of(T0 + SECOND + 1), None);
}
