//! Per-node clocks: an offset from true time, a drift rate in parts per million, and jumps
//! (an NTP step, a VM resume). Nodes read only their local clock; true time stays with the
//! kernel.

use crate::time::Time;

/// A node's hardware clock. Local time is a signed nanosecond count that may run ahead of,
/// behind, faster or slower than true time, and may jump backwards.
#[derive(Clone, Debug)]
pub struct Clock {
    /// True time of the last re-anchoring (a drift change or a jump).
    anchor_true: u64,
    /// Local reading at `anchor_true`.
    anchor_local: i64,
    drift_ppm: i64,
}

impl Clock {
    /// The largest drift a clock may have, in ppm (10%: far beyond real quartz, which drifts
    /// by tens of ppm, and far from the nonsense of a clock standing still or running backwards).
    pub const MAX_DRIFT_PPM: i64 = 100_000;

    pub fn new(offset_ns: i64, drift_ppm: i64) -> Clock {
        assert!(
            drift_ppm.abs() <= Self::MAX_DRIFT_PPM,
            "drift {drift_ppm} ppm is out of range"
        );
        Clock {
            anchor_true: 0,
            anchor_local: offset_ns,
            drift_ppm,
        }
    }

    /// The local reading at true time `now`.
    /// Saturating at the ends of `i64` (292 years either way): simulated time itself may
    /// reach `u64::MAX`, and a wrapped reading would make a clock jump by centuries.
    pub fn local(&self, now: Time) -> i64 {
        let elapsed = i128::from(now.0.saturating_sub(self.anchor_true));
        let scaled = elapsed * (1_000_000 + i128::from(self.drift_ppm)) / 1_000_000;
        let scaled = i64::try_from(scaled).unwrap_or(i64::MAX);
        self.anchor_local.saturating_add(scaled)
    }

    /// Steps the clock by `delta_ns` (negative steps backwards) at true time `now`.
    pub fn jump(&mut self, now: Time, delta_ns: i64) {
        self.anchor_local = self.local(now).saturating_add(delta_ns);
        self.anchor_true = now.0;
    }

    /// Changes the drift rate from true time `now` on.
    pub fn set_drift(&mut self, now: Time, drift_ppm: i64) {
        assert!(
            drift_ppm.abs() <= Self::MAX_DRIFT_PPM,
            "drift {drift_ppm} ppm is out of range"
        );
        self.anchor_local = self.local(now);
        self.anchor_true = now.0;
        self.drift_ppm = drift_ppm;
    }

    /// The true duration a timer set for `local_ns` of this clock's time takes to fire: a
    /// fast clock fires its timers early in true time.
    pub fn true_delay(&self, local_ns: u64) -> u64 {
        // Positive: |drift| <= MAX_DRIFT_PPM < 10^6.
        let rate = (1_000_000 + self.drift_ppm) as u128;
        let scaled = u128::from(local_ns) * 1_000_000 / rate;
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_drift_and_jump() {
        let mut c = Clock::new(5_000_000, 100); // +5ms, 100ppm fast
        assert_eq!(c.local(Time(0)), 5_000_000);
        assert_eq!(c.local(Time(1_000_000_000)), 5_000_000 + 1_000_100_000);
        c.jump(Time(1_000_000_000), -10_000_000);
        assert_eq!(
            c.local(Time(1_000_000_000)),
            5_000_000 + 1_000_100_000 - 10_000_000
        );
        c.set_drift(Time(2_000_000_000), 0);
        let at2 = c.local(Time(2_000_000_000));
        assert_eq!(c.local(Time(3_000_000_000)), at2 + 1_000_000_000);
        assert_eq!(Clock::new(0, 100_000).true_delay(110), 100);
    }

    #[test]
    fn readings_saturate_at_the_end_of_time() {
        let c = Clock::new(i64::MAX - 5, 100_000);
        assert_eq!(c.local(Time::MAX), i64::MAX);
        let c = Clock::new(-5, 100_000);
        assert_eq!(c.local(Time::MAX), i64::MAX - 5);
        assert_eq!(Clock::new(0, 0).true_delay(u64::MAX), u64::MAX);
    }
}
