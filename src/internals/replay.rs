//! Sliding anti-replay window over 64-bit probe counters
//! (`docs/PROTOCOL.md` §5.5).
//!
//! The check and the commit are separate so that a forged datagram, which is
//! checked before the AEAD and never committed, moves no state.

/// Counters this far below the highest one seen are still accepted once.
pub const REPLAY_WINDOW: u64 = 512;

const WORD_BITS: u64 = 64;
// One spare word, so that advancing clears whole words and the window never
// shrinks below REPLAY_WINDOW.
const WORDS: usize = (REPLAY_WINDOW / WORD_BITS) as usize + 1;
const RING_BITS: u64 = WORDS as u64 * WORD_BITS;

/// Why a counter was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// The counter is [`REPLAY_WINDOW`] or more below the highest seen.
    TooOld,
    /// The counter was already committed.
    Duplicate,
}

/// A bitmap of recently accepted counters.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "model", derive(Hash))]
pub struct ReplayWindow {
    /// One more than the highest committed counter; zero when none is.
    next: u64,
    bits: [u64; WORDS],
}

impl ReplayWindow {
    /// An empty window: every counter is acceptable once.
    pub const fn new() -> Self {
        ReplayWindow {
            next: 0,
            bits: [0; WORDS],
        }
    }

    /// One more than the highest committed counter, or zero.
    pub fn next_expected(&self) -> u64 {
        self.next
    }

    /// Would `counter` be accepted? Changes nothing.
    ///
    /// # Errors
    /// [`ReplayError::TooOld`] or [`ReplayError::Duplicate`].
    pub fn check(&self, counter: u64) -> Result<(), ReplayError> {
        if counter >= self.next {
            return Ok(());
        }
        if self.next - counter > REPLAY_WINDOW {
            return Err(ReplayError::TooOld);
        }
        let (word, bit) = Self::position(counter);
        if self.bits[word] & bit != 0 {
            Err(ReplayError::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Records `counter` as accepted. Call only after [`Self::check`]
    /// succeeded and the datagram authenticated.
    pub fn commit(&mut self, counter: u64) {
        if counter >= self.next {
            // Clear the words between the old top and the new one; at most
            // the whole ring.
            let old_word = if self.next == 0 {
                None
            } else {
                Some((self.next - 1) / WORD_BITS)
            };
            let new_word = counter / WORD_BITS;
            match old_word {
                Some(old) if new_word - old < WORDS as u64 => {
                    for w in old + 1..=new_word {
                        self.bits[Self::word_index(w)] = 0;
                    }
                }
                _ => self.bits = [0; WORDS],
            }
            self.next = counter.saturating_add(1);
        }
        let (word, bit) = Self::position(counter);
        self.bits[word] |= bit;
    }

    fn word_index(word: u64) -> usize {
        // The remainder is below WORDS, which fits in usize.
        usize::try_from(word % WORDS as u64).unwrap_or(0)
    }

    fn position(counter: u64) -> (usize, u64) {
        let in_ring = counter % RING_BITS;
        (
            Self::word_index(in_ring / WORD_BITS),
            1u64 << (in_ring % WORD_BITS),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, c: u64) -> Result<(), ReplayError> {
        w.check(c)?;
        w.commit(c);
        Ok(())
    }

    #[test]
    fn empty_window_accepts_anything_once() {
        for c in [0, 1, 63, 64, 511, 512, 1 << 40, u64::MAX - 1] {
            let mut w = ReplayWindow::new();
            assert_eq!(accept(&mut w, c), Ok(()));
            assert_eq!(accept(&mut w, c), Err(ReplayError::Duplicate));
        }
    }

    #[test]
    fn in_order_stream_then_every_duplicate_refused() {
        let mut w = ReplayWindow::new();
        for c in 0..5000 {
            assert_eq!(accept(&mut w, c), Ok(()));
        }
        for c in 5000 - REPLAY_WINDOW..5000 {
            assert_eq!(w.check(c), Err(ReplayError::Duplicate), "{c}");
        }
        for c in 0..5000 - REPLAY_WINDOW {
            assert_eq!(w.check(c), Err(ReplayError::TooOld), "{c}");
        }
    }

    #[test]
    fn edges_of_the_window_exactly() {
        let mut w = ReplayWindow::new();
        let top = 10_000;
        accept(&mut w, top).unwrap();
        // The oldest acceptable counter is top + 1 - REPLAY_WINDOW.
        let oldest = top + 1 - REPLAY_WINDOW;
        assert_eq!(w.check(oldest - 1), Err(ReplayError::TooOld));
        assert_eq!(accept(&mut w, oldest), Ok(()));
        assert_eq!(accept(&mut w, oldest), Err(ReplayError::Duplicate));
        assert_eq!(accept(&mut w, top - 1), Ok(()));
        // Advancing by exactly one pushes `oldest` out.
        accept(&mut w, top + 1).unwrap();
        assert_eq!(w.check(oldest), Err(ReplayError::TooOld));
        assert_eq!(w.check(oldest + 1), Ok(()));
    }

    #[test]
    fn every_gap_size_around_word_and_ring_boundaries() {
        // Jumps of every size up to beyond the ring: counters skipped over
        // stay acceptable if inside the window, old ones are forgotten.
        for jump in 1..=(RING_BITS + 70) {
            let mut w = ReplayWindow::new();
            for c in 0..100 {
                accept(&mut w, c).unwrap();
            }
            let top = 99 + jump;
            accept(&mut w, top).unwrap();
            for c in (top.saturating_sub(REPLAY_WINDOW + 3))..=top + 1 {
                let expected = if c == top || (c < 100 && top - c < REPLAY_WINDOW) {
                    Err(ReplayError::Duplicate)
                } else if c <= top && top - c >= REPLAY_WINDOW {
                    Err(ReplayError::TooOld)
                } else {
                    Ok(())
                };
                assert_eq!(w.check(c), expected, "jump {jump} counter {c}");
            }
        }
    }

    #[test]
    fn reordered_inside_window_all_accepted_once() {
        let mut w = ReplayWindow::new();
        // Deliver 0..2048 in blocks of 256, each block reversed.
        for block in 0..8u64 {
            for c in (block * 256..(block + 1) * 256).rev() {
                assert_eq!(accept(&mut w, c), Ok(()), "{c}");
            }
        }
        for c in 2048 - REPLAY_WINDOW..2048 {
            assert_eq!(w.check(c), Err(ReplayError::Duplicate));
        }
    }

    #[test]
    fn check_does_not_change_state() {
        let mut w = ReplayWindow::new();
        accept(&mut w, 700).unwrap();
        let before = w.clone();
        for c in [0, 188, 189, 699, 700, 701, u64::MAX] {
            let _ = w.check(c);
        }
        assert_eq!(w, before);
    }

    #[test]
    fn matches_a_reference_model_on_pseudo_random_sequences() {
        // A naive model: the set of accepted counters, and the highest.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..50 {
            let mut w = ReplayWindow::new();
            let mut seen = std::collections::BTreeSet::new();
            let mut base = 0u64;
            for _ in 0..2000 {
                let r = next();
                if r % 10 == 0 {
                    base += r % 700;
                }
                let c = base + (next() % 600);
                let top = seen.iter().next_back().copied();
                let expected = match top {
                    Some(t) if c <= t && t - c >= REPLAY_WINDOW => Err(ReplayError::TooOld),
                    _ if seen.contains(&c) => Err(ReplayError::Duplicate),
                    _ => Ok(()),
                };
                assert_eq!(accept(&mut w, c), expected, "counter {c} top {top:?}");
                if expected.is_ok() {
                    seen.insert(c);
                }
            }
        }
    }

    /// A counter far ahead of the window (a peer's counters jump by up to
    /// 2^64 − 2^32 at a rekey, §5.1) clears the ring at once: clearing word
    /// by word from the old top would take 2^58 steps. Everything below
    /// the new top is then too old or new, and nothing of before is
    /// remembered as seen.
    #[test]
    fn a_jump_far_ahead_clears_the_ring_at_once() {
        let mut w = ReplayWindow::new();
        for c in 0..600 {
            assert_eq!(accept(&mut w, c), Ok(()));
        }
        let far = u64::MAX - (1 << 16);
        assert_eq!(accept(&mut w, far), Ok(()));
        assert_eq!(w.next_expected(), far + 1);
        assert_eq!(w.check(far), Err(ReplayError::Duplicate));
        assert_eq!(w.check(599), Err(ReplayError::TooOld));
        for c in far - REPLAY_WINDOW + 1..far {
            assert_eq!(
                w.check(c),
                Ok(()),
                "counter {c} below the new top, never seen"
            );
        }
    }
}
