//! A per-worker hashed timer wheel with one-second slots and lazy cancellation.
//!
//! Connections keep their own deadline (a tick number) and update it freely on activity — a
//! store, no syscall, no wheel operation. The wheel only holds one reminder per connection; when
//! a reminder's slot comes round the worker compares the connection's current deadline with the
//! clock: past due → expire it, still in the future → file the reminder again under the new
//! deadline. A reminder for a closed connection finds no slot owner (stale token) and vanishes.
//! Arming and firing are O(1); a tick costs the reminders filed in its slot.

/// Slots in the wheel; a deadline further away than this is re-filed when its slot passes.
const SLOTS: usize = 64;

/// The wheel: reminders (connection tokens) filed by tick.
#[derive(Debug)]
pub struct Wheel {
    slots: Vec<Vec<u64>>,
    /// The last tick whose slot was processed.
    now: u64,
    len: usize,
}

impl Wheel {
    /// An empty wheel at tick `now`.
    pub fn new(now: u64) -> Self {
        Wheel {
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            now,
            len: 0,
        }
    }

    /// Files a reminder for `token` at tick `at` (at least the next tick).
    pub fn schedule(&mut self, token: u64, at: u64) {
        let at = at.max(self.now + 1);
        self.slots[(at % SLOTS as u64) as usize].push(token);
        self.len += 1;
    }

    /// Advances to tick `to`, moving every reminder of the passed slots into `due` (the caller
    /// checks each against its connection's real deadline).
    pub fn advance(&mut self, to: u64, due: &mut Vec<u64>) {
        let steps = to.saturating_sub(self.now).min(SLOTS as u64);
        for i in 1..=steps {
            let slot = &mut self.slots[((self.now + i) % SLOTS as u64) as usize];
            self.len -= slot.len();
            due.append(slot);
        }
        self.now = self.now.max(to);
    }
}

#[cfg(test)]
impl Wheel {
    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_order_and_refiles() {
        let mut w = Wheel::new(0);
        w.schedule(1, 1);
        w.schedule(2, 3);
        w.schedule(3, 100); // beyond one turn: fires early, at slot 100 % 64 = 36
        let mut due = Vec::new();
        w.advance(1, &mut due);
        assert_eq!(due, [1]);
        due.clear();
        w.advance(2, &mut due);
        assert!(due.is_empty());
        w.advance(10, &mut due);
        assert_eq!(due, [2]);
        due.clear();
        w.advance(36, &mut due);
        assert_eq!(due, [3], "a far deadline surfaces early for a re-check");
        w.schedule(3, 100);
        due.clear();
        w.advance(100, &mut due);
        assert_eq!(due, [3]);
        assert!(w.is_empty());
    }

    #[test]
    fn big_jumps_visit_each_slot_once() {
        let mut w = Wheel::new(5);
        for t in 0..200 {
            w.schedule(t, 6 + t);
        }
        let mut due = Vec::new();
        w.advance(10_000, &mut due);
        assert_eq!(due.len(), 200);
        assert!(w.is_empty());
        w.schedule(7, 0);
        due.clear();
        w.advance(10_001, &mut due);
        assert_eq!(due, [7], "a deadline in the past fires on the next tick");
    }
}
