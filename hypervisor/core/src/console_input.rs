//! Console input focus: which partition's virtual UART gets what is typed on Bulkhead's console, and the escape that moves it.
//!
//! Input goes to one partition at a time. Ctrl-a typed [`ESCAPE_PRESSES`]
//! times in a row (as on Xen's console) moves the focus to the next
//! partition with a virtual console and is not delivered; fewer Ctrl-a
//! followed by another byte are delivered as typed, so a shell still gets
//! its Ctrl-a.

/// The escape byte: Ctrl-a.
pub const ESCAPE: u8 = 0x01;
/// Escape bytes in a row that switch the focus.
pub const ESCAPE_PRESSES: usize = 3;

/// What one input byte does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Nothing yet (an escape byte held back), or no partition can take input.
    Held,
    /// Deliver these bytes, in order, to the focused partition (`.0`).
    Deliver(usize, [u8; ESCAPE_PRESSES], usize),
    /// The focus moved to this target.
    Switched(usize),
}

/// The focus among `targets` partitions (by position in the list of
/// partitions with a virtual console) and the escape bytes seen so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Focus {
    targets: usize,
    focused: usize,
    escapes: usize,
}

impl Focus {
    /// Focus on the first of `targets` partitions.
    pub const fn new(targets: usize) -> Focus {
        Focus {
            targets,
            focused: 0,
            escapes: 0,
        }
    }

    /// The focused target, if there is any.
    pub fn focused(&self) -> Option<usize> {
        (self.focused < self.targets).then_some(self.focused)
    }

    /// Takes one input byte.
    pub fn feed(&mut self, byte: u8) -> Input {
        if self.targets == 0 {
            return Input::Held;
        }
        if byte == ESCAPE {
            self.escapes += 1;
            if self.escapes < ESCAPE_PRESSES {
                return Input::Held;
            }
            self.escapes = 0;
            self.focused = (self.focused + 1) % self.targets;
            return Input::Switched(self.focused);
        }
        let mut bytes = [ESCAPE; ESCAPE_PRESSES];
        let held = self.escapes;
        self.escapes = 0;
        // `held` < ESCAPE_PRESSES, so the byte fits after them.
        bytes[held] = byte;
        Input::Deliver(self.focused, bytes, held + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(focus: &mut Focus, input: &[u8]) -> Vec<(usize, u8)> {
        let mut out = Vec::new();
        for &byte in input {
            if let Input::Deliver(target, bytes, len) = focus.feed(byte) {
                out.extend(bytes[..len].iter().map(|&b| (target, b)));
            }
        }
        out
    }

    #[test]
    fn three_ctrl_a_switch_round_robin() {
        let mut focus = Focus::new(3);
        assert_eq!(focus.focused(), Some(0));
        assert_eq!(focus.feed(ESCAPE), Input::Held);
        assert_eq!(focus.feed(ESCAPE), Input::Held);
        assert_eq!(focus.feed(ESCAPE), Input::Switched(1));
        assert_eq!(delivered(&mut focus, b"x"), [(1, b'x')]);
        delivered(&mut focus, &[ESCAPE; 6]);
        assert_eq!(focus.focused(), Some(0), "wraps around");
    }

    #[test]
    fn fewer_escapes_are_delivered_with_the_next_byte() {
        let mut focus = Focus::new(2);
        assert_eq!(
            delivered(&mut focus, &[ESCAPE, ESCAPE, b'q']),
            [(0, ESCAPE), (0, ESCAPE), (0, b'q')]
        );
        assert_eq!(focus.focused(), Some(0));
    }

    #[test]
    fn no_target_takes_nothing() {
        let mut focus = Focus::new(0);
        assert_eq!(focus.focused(), None);
        for byte in 0..=255 {
            assert_eq!(focus.feed(byte), Input::Held);
        }
    }
}
