//! Console rings: fixed-capacity byte rings that hold whole lines, and the drainer that empties them into a UART without waiting.
//!
//! Every writer of the console (Bulkhead itself, each partition) owns one
//! [`LineRing`]. Writers put bytes in exactly as they must reach the UART;
//! the [`Drainer`] takes them out line by line, round robin over the rings,
//! and only while the UART has room: it never waits for the UART, so a slow
//! or stuck UART costs writers dropped bytes, never time.
//!
//! Rules the two keep between them:
//! - A ring hands out only whole lines (up to and including `\n`); the line
//!   still being written stays in the ring until its `\n` arrives.
//! - Once the drainer has started a line it finishes that line (in this or a
//!   later drain) before it takes bytes from another ring, so lines of
//!   different writers never interleave.
//! - A byte that does not fit drops the line it belongs to: the part already
//!   in the ring and the rest up to its `\n`. The ring counts dropped bytes
//!   and, once the lines written before the drop are out, the drainer emits
//!   one notice line for them (its text comes from [`Rings::drop_notice`]).
//! - A line still being written leaves early only once its writer went
//!   idle ([`LineRing::touch`], [`Rings::idle_ticks`]) or while it is
//!   typed at ([`LineRing::flush_eagerly_until`]), decided under the
//!   ring's lock so a byte pushed meanwhile is seen:
//!   its bytes go out, the UART stays in that line, and the ring continues
//!   it without a new prefix. If another ring has a line to emit first,
//!   the drainer ends the UART's line (`\r\n`) and the continuation, when
//!   it comes, starts with the ring's prefix ([`Rings::write_prefix`]) on a
//!   line of its own: output of different rings still never shares a line.
//! - A writer that moves from one ring to another can ask, with
//!   [`LineRing::order_after`], that its new line wait for what the other
//!   ring already holds: one core's lines then leave in the order it wrote
//!   them even when they went to different rings.
//!
//! Positions are byte offsets in a ring's whole output stream: they only grow
//! (`u64`), so they never wrap in practice.

use core::fmt;
use core::ops::{Deref, DerefMut};

/// Most pending ordering constraints a ring keeps (see [`LineRing::order_after`]).
pub const MAX_BARRIERS: usize = 8;
/// Longest drop notice, line end included; a longer text is cut.
pub const NOTICE_BYTES: usize = 96;
/// Longest preamble: the end of a line left open, then a continuation's prefix.
pub const PREAMBLE_BYTES: usize = 80;
/// Bytes the drainer copies out of a ring per lock of that ring.
const CHUNK_BYTES: usize = 64;

/// "The line containing offset `at` of this ring may leave only once ring
/// `ring` has emitted everything before its offset `until`."
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Barrier {
    at: u64,
    ring: usize,
    until: u64,
}

/// A fixed-capacity FIFO of console bytes that hands out whole lines.
///
/// Declare one as `LineRing<[u8; N]>` (capacity `N`, built by the `const`
/// [`LineRing::new`]); it dereferences to `LineRing<[u8]>`, which has the
/// methods, so rings of different capacities share one interface. Nothing
/// allocates.
pub struct LineRing<B: ?Sized = [u8]> {
    /// Index in `bytes` of the oldest byte.
    head: usize,
    /// Bytes held.
    len: usize,
    /// Leading bytes that form whole lines (up to the last `\n` held).
    complete: usize,
    /// Dropping the rest of a line that did not fit, up to its `\n`.
    discarding: bool,
    /// Bytes taken out so far: the stream offset of the oldest byte held.
    position: u64,
    /// Bytes dropped and not reported yet.
    dropped: u64,
    /// Stream offset where the first unreported drop happened.
    dropped_at: u64,
    barriers: [Barrier; MAX_BARRIERS],
    barrier_count: usize,
    /// The last byte taken out did not end its line (a partial flush).
    mid_line_out: bool,
    /// The drainer ended the UART's line under a partial flush of ours:
    /// the continuation needs the prefix again.
    resume_prefix: bool,
    /// Clock value of the writer's last write ([`Self::touch`]).
    touched: u64,
    /// Until this clock value a partial line leaves at once.
    eager_until: u64,
    bytes: B,
}

impl<const N: usize> LineRing<[u8; N]> {
    /// An empty ring of `N` bytes.
    pub const fn new() -> Self {
        assert!(N > 0, "a console ring needs room for at least one byte");
        LineRing {
            head: 0,
            len: 0,
            complete: 0,
            discarding: false,
            position: 0,
            dropped: 0,
            dropped_at: 0,
            barriers: [Barrier {
                at: 0,
                ring: 0,
                until: 0,
            }; MAX_BARRIERS],
            barrier_count: 0,
            mid_line_out: false,
            resume_prefix: false,
            touched: 0,
            eager_until: 0,
            bytes: [0; N],
        }
    }
}

impl<const N: usize> Default for LineRing<[u8; N]> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Deref for LineRing<[u8; N]> {
    type Target = LineRing;

    fn deref(&self) -> &LineRing {
        self
    }
}

impl<const N: usize> DerefMut for LineRing<[u8; N]> {
    fn deref_mut(&mut self) -> &mut LineRing {
        self
    }
}

impl LineRing {
    pub fn capacity(&self) -> usize {
        self.bytes.len()
    }

    /// Bytes held (whole lines and the line being written).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes that still fit.
    pub fn free(&self) -> usize {
        self.capacity() - self.len
    }

    /// Bytes at the front that form whole lines.
    pub fn complete_len(&self) -> usize {
        self.complete
    }

    /// Whether at least one whole line is waiting.
    pub fn has_line(&self) -> bool {
        self.complete > 0
    }

    /// Whether the ring is dropping the rest of a line that did not fit.
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }

    /// Stream offset of the oldest byte held (bytes taken out so far).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Stream offset just past the last whole line held.
    pub fn completed_position(&self) -> u64 {
        self.position + self.complete as u64
    }

    /// Bytes dropped and not reported yet.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Records that the writer wrote at clock value `now`.
    pub fn touch(&mut self, now: u64) {
        self.touched = now;
    }

    /// Lets a partial line leave at once until clock value `until` (the
    /// partition is being typed at: its echo and prompt must show).
    pub fn flush_eagerly_until(&mut self, until: u64) {
        self.eager_until = until;
    }

    /// Whether the line still being written may leave at clock value
    /// `now`: the writer was idle for `idle` ticks, or it is typed at.
    pub fn partial_due(&self, now: u64, idle: u64) -> bool {
        now < self.eager_until || now.saturating_sub(self.touched) >= idle
    }

    /// Appends `byte`. If it does not fit, its line is dropped: the part
    /// already held, this byte, and the rest up to and including its `\n`.
    pub fn push(&mut self, byte: u8) {
        if self.discarding {
            self.count_dropped(1);
            self.discarding = byte != b'\n';
            if !self.discarding {
                // The dropped line is over: a part of it already out has
                // no continuation.
                self.mid_line_out = false;
                self.resume_prefix = false;
            }
            return;
        }
        if self.len == self.capacity() {
            let partial = self.len - self.complete;
            self.len = self.complete;
            self.count_dropped(partial as u64 + 1);
            self.discarding = byte != b'\n';
            let end = self.position + self.len as u64;
            for barrier in &mut self.barriers[..self.barrier_count] {
                barrier.at = barrier.at.min(end);
            }
            return;
        }
        let index = (self.head + self.len) % self.capacity();
        self.bytes[index] = byte;
        self.len += 1;
        if byte == b'\n' {
            self.complete = self.len;
        }
    }

    pub fn push_slice(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.push(byte);
        }
    }

    /// Counts `count` bytes lost outside the ring (reported with its drops).
    pub fn note_dropped(&mut self, count: u64) {
        if count > 0 {
            self.count_dropped(count);
        }
    }

    fn count_dropped(&mut self, count: u64) {
        if self.dropped == 0 {
            self.dropped_at = self.completed_position();
        }
        self.dropped = self.dropped.saturating_add(count);
    }

    /// Whether the unreported drops are due for their notice: every line
    /// written before the first of them has left the ring.
    pub fn drop_notice_due(&self) -> bool {
        self.dropped > 0 && self.position >= self.dropped_at
    }

    /// The unreported drop count, if [`Self::drop_notice_due`]; resets it.
    pub fn take_drop_notice(&mut self) -> Option<u64> {
        if !self.drop_notice_due() {
            return None;
        }
        Some(core::mem::take(&mut self.dropped))
    }

    /// Copies into `out` the front of the oldest line, stopping after its
    /// `\n` or when `out` is full; returns the bytes copied. Only whole
    /// lines are handed out unless `partial`, when the line still being
    /// written counts too. Nothing leaves the ring until [`Self::consume`].
    pub fn peek_line(&self, out: &mut [u8], partial: bool) -> usize {
        let available = if partial { self.len } else { self.complete };
        let mut copied = 0;
        while copied < available && copied < out.len() {
            let byte = self.bytes[(self.head + copied) % self.capacity()];
            out[copied] = byte;
            copied += 1;
            if byte == b'\n' {
                break;
            }
        }
        copied
    }

    /// Removes the `count` oldest bytes (those [`Self::peek_line`] showed).
    pub fn consume(&mut self, count: usize) {
        let count = count.min(self.len);
        if count > 0 {
            let last = self.bytes[(self.head + count - 1) % self.capacity()];
            self.mid_line_out = last != b'\n';
        }
        self.head = (self.head + count) % self.capacity();
        self.len -= count;
        self.complete = self.complete.saturating_sub(count);
        self.position += count as u64;
    }

    /// Makes the next bytes pushed wait, once they are a line, until ring
    /// `ring` has emitted everything before its offset `until`. Returns
    /// false if the ring already keeps [`MAX_BARRIERS`] constraints on
    /// other rings (the order is then not kept).
    pub fn order_after(&mut self, ring: usize, until: u64) -> bool {
        let at = self.position + self.len as u64;
        if let Some(last) = self.barriers[..self.barrier_count].last_mut() {
            if last.ring == ring {
                last.until = last.until.max(until);
                last.at = last.at.max(at);
                return true;
            }
        }
        let Some(slot) = self.barriers.get_mut(self.barrier_count) else {
            return false;
        };
        *slot = Barrier { at, ring, until };
        self.barrier_count += 1;
        true
    }

    /// Length of the oldest line (whole lines only unless `partial`).
    fn first_line_len(&self, partial: bool) -> usize {
        let available = if partial { self.len } else { self.complete };
        (0..available)
            .find(|&offset| self.bytes[(self.head + offset) % self.capacity()] == b'\n')
            .map_or(available, |offset| offset + 1)
    }

    /// The constraint `(ring, until)` that what leaves next must meet
    /// first: the drop notice if `notice`, else the oldest line.
    fn next_barrier(&self, notice: bool, partial: bool) -> Option<(usize, u64)> {
        let barrier = self.barriers[..self.barrier_count].first()?;
        // A line [p, p + len) holds the offsets below p + len; a notice at a
        // line boundary p comes before the line starting there.
        let reach = if notice {
            self.position + 1
        } else {
            self.position + self.first_line_len(partial) as u64
        };
        (barrier.at < reach).then_some((barrier.ring, barrier.until))
    }

    fn clear_barrier(&mut self) {
        if self.barrier_count > 0 {
            self.barriers.copy_within(1..self.barrier_count, 0);
            self.barrier_count -= 1;
        }
    }
}

/// Where a partition's console output stands in its line, and how its
/// CONSOLE_WRITE bytes become UART bytes: `[label] ` before the first byte
/// of each line (even a `\r`), `\n` as `\r\n`, `\r` dropped, other control
/// bytes as `?`. The state carries over from one call to the next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestText {
    /// The last byte did not end a line: the next one gets no prefix.
    mid_line: bool,
}

impl GuestText {
    pub const fn new() -> Self {
        GuestText { mid_line: false }
    }

    /// What `byte` becomes after the line's prefix.
    fn body(byte: u8) -> ([u8; 2], usize) {
        match byte {
            b'\n' => (*b"\r\n", 2),
            b'\r' => ([0; 2], 0),
            // Keep control characters from reaching the terminal.
            0x20..=0x7e | b'\t' => ([byte, 0], 1),
            _ => ([b'?', 0], 1),
        }
    }

    /// How many UART bytes `byte` becomes, the prefix included.
    pub fn output_len(&self, label: &str, byte: u8) -> usize {
        let prefix = if self.mid_line { 0 } else { label.len() + 3 };
        prefix + Self::body(byte).1
    }

    /// Hands what `byte` becomes to `emit`, the line's prefix first.
    pub fn encode(&mut self, label: &str, byte: u8, mut emit: impl FnMut(&[u8])) {
        if !self.mid_line {
            emit(b"[");
            emit(label.as_bytes());
            emit(b"] ");
            self.mid_line = true;
        }
        let (body, len) = Self::body(byte);
        emit(&body[..len]);
        if byte == b'\n' {
            self.mid_line = false;
        }
    }

    /// Puts `bytes` into `ring` as they must reach the UART and returns how
    /// many it took. Unless `may_drop` it stops before a byte whose output
    /// does not fit (the caller can drain and call again); with `may_drop`
    /// it takes them all, and the ring drops the lines that do not fit.
    pub fn fill(
        &mut self,
        ring: &mut LineRing,
        label: &str,
        bytes: &[u8],
        may_drop: bool,
    ) -> usize {
        for (taken, &byte) in bytes.iter().enumerate() {
            if !may_drop && !ring.is_discarding() && ring.free() < self.output_len(label, byte) {
                return taken;
            }
            self.encode(label, byte, |out| ring.push_slice(out));
        }
        bytes.len()
    }
}

/// A UART that takes a byte only when it has room for it.
pub trait Uart {
    /// Writes `byte` and returns true, or returns false without writing if
    /// the transmit FIFO is full.
    fn try_put(&mut self, byte: u8) -> bool;
}

/// The rings a [`Drainer`] serves, by index; ring 0 is served first.
pub trait Rings {
    /// How many rings there are.
    fn count(&self) -> usize;
    /// Runs `f` on ring `ring` under whatever lock guards it; None if there
    /// is no such ring.
    fn with<T>(&self, ring: usize, f: impl FnOnce(&mut LineRing) -> T) -> Option<T>;
    /// Writes the text (without line end) of the line reporting that ring
    /// `ring` dropped `dropped` bytes.
    fn drop_notice(&self, ring: usize, dropped: u64, out: &mut dyn fmt::Write) -> fmt::Result;
    /// The clock the rings' [`LineRing::touch`] values come from.
    fn now(&self) -> u64 {
        0
    }
    /// Ticks of [`Self::now`] after which a writer's partial line leaves
    /// (never, by default).
    fn idle_ticks(&self) -> u64 {
        u64::MAX
    }
    /// Writes the prefix that starts ring `ring`'s lines (`[label] `), for
    /// a continuation after the drainer ended a partly flushed line.
    fn write_prefix(&self, _ring: usize, _out: &mut dyn fmt::Write) -> fmt::Result {
        Ok(())
    }
}

/// Why a drain stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainEnd {
    /// Nothing more can leave: the rings hold no whole line that may go now.
    Idle,
    /// The UART's FIFO is full; the next drain continues where this one stopped.
    UartFull,
    /// The byte budget ran out (lines may still be waiting).
    Budget,
}

/// Which bytes a drain may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainMode {
    /// Whole lines only: what runs while writers are alive.
    Lines,
    /// Also the lines still being written: the last flush before power-off.
    Everything,
}

/// The state of the one drainer that owns the UART: where it is in the
/// round robin and the line it has started.
pub struct Drainer {
    /// Ring whose line is partly emitted: no other ring is served until it ends.
    current: Option<usize>,
    /// Where the round robin looks first for the next line.
    next: usize,
    /// A drop notice being emitted (for ring `current`).
    notice: [u8; NOTICE_BYTES],
    notice_len: usize,
    notice_sent: usize,
    /// Ring whose partly flushed line the UART is still in (no line end yet).
    open: Option<usize>,
    /// What goes out before ring `current`'s bytes: the open line's end,
    /// then the prefix of a continuation.
    preamble: [u8; PREAMBLE_BYTES],
    preamble_len: usize,
    preamble_sent: usize,
}

impl Default for Drainer {
    fn default() -> Self {
        Self::new()
    }
}

/// Fills a notice buffer, cutting what does not fit (two bytes stay free
/// for the line end).
struct NoticeWriter<'a> {
    out: &'a mut [u8; NOTICE_BYTES],
    len: usize,
}

impl fmt::Write for NoticeWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if self.len + 2 >= NOTICE_BYTES {
                break;
            }
            self.out[self.len] = byte;
            self.len += 1;
        }
        Ok(())
    }
}

/// Fills the preamble buffer, cutting what does not fit.
struct PreambleWriter<'a> {
    out: &'a mut [u8; PREAMBLE_BYTES],
    len: usize,
}

impl PreambleWriter<'_> {
    fn write_bytes(&mut self, bytes: &[u8]) -> fmt::Result {
        for &byte in bytes {
            let Some(slot) = self.out.get_mut(self.len) else {
                break;
            };
            *slot = byte;
            self.len += 1;
        }
        Ok(())
    }
}

impl fmt::Write for PreambleWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.write_bytes(text.as_bytes())
    }
}

/// What a ring can give the drainer now.
enum Offer {
    Nothing,
    Notice(u64),
    Line,
    /// A line that must wait for ring `.0` to reach offset `.1`.
    Blocked(usize, u64),
}

impl Drainer {
    pub const fn new() -> Self {
        Drainer {
            current: None,
            next: 0,
            notice: [0; NOTICE_BYTES],
            notice_len: 0,
            notice_sent: 0,
            open: None,
            preamble: [0; PREAMBLE_BYTES],
            preamble_len: 0,
            preamble_sent: 0,
        }
    }

    /// Whether a line is partly emitted (the UART is mid-line).
    pub fn is_mid_line(&self) -> bool {
        self.current.is_some() || self.open.is_some()
    }

    /// Ends a partly flushed line the UART is still in (before text that
    /// bypasses the rings); false if the UART had no room for the line end.
    pub fn end_open_line(&mut self, rings: &impl Rings, uart: &mut impl Uart) -> bool {
        if self.current.is_some() {
            return false;
        }
        let Some(open) = self.open else {
            return true;
        };
        if !(uart.try_put(b'\r') && uart.try_put(b'\n')) {
            return false;
        }
        rings.with(open, |r| {
            if r.mid_line_out {
                r.resume_prefix = true;
            }
        });
        self.open = None;
        true
    }

    /// Emits lines from `rings` into `uart` while it has room, round robin
    /// from where the last drain stopped, finishing a started line before
    /// anything else; stops after about `budget` bytes.
    pub fn drain(
        &mut self,
        rings: &impl Rings,
        uart: &mut impl Uart,
        budget: usize,
        mode: DrainMode,
    ) -> DrainEnd {
        let everything = mode == DrainMode::Everything;
        let mut sent_total = 0usize;
        loop {
            if sent_total >= budget {
                return DrainEnd::Budget;
            }
            let Some(ring) = self.current else {
                match self.pick(rings, everything) {
                    Some(ring) => {
                        self.current = Some(ring);
                        self.prepare_preamble(rings, ring);
                    }
                    None => return DrainEnd::Idle,
                }
                continue;
            };
            while self.preamble_sent < self.preamble_len {
                if !uart.try_put(self.preamble[self.preamble_sent]) {
                    return DrainEnd::UartFull;
                }
                self.preamble_sent += 1;
                sent_total += 1;
            }
            let (now, idle) = (rings.now(), rings.idle_ticks());
            if self.notice_sent < self.notice_len {
                while self.notice_sent < self.notice_len {
                    if !uart.try_put(self.notice[self.notice_sent]) {
                        return DrainEnd::UartFull;
                    }
                    self.notice_sent += 1;
                    sent_total += 1;
                }
                self.end_turn(rings, ring);
                continue;
            }
            // Copy, emit and consume under one hold of the ring: bytes the
            // UART took always leave the ring, even if a later lock of it
            // would time out.
            let mut chunk = [0u8; CHUNK_BYTES];
            let step = rings.with(ring, |r| {
                let partial = everything || r.partial_due(now, idle);
                let copied = r.peek_line(&mut chunk, partial);
                let mut sent = 0;
                while sent < copied && uart.try_put(chunk[sent]) {
                    sent += 1;
                }
                r.consume(sent);
                (copied, sent, partial && r.is_empty())
            });
            let Some((copied, sent, emptied)) = step else {
                // The ring is locked for too long: the next drain goes on.
                return DrainEnd::Budget;
            };
            if copied == 0 {
                // Only after a flush took the line's start: nothing to finish.
                self.end_turn(rings, ring);
                continue;
            }
            sent_total += sent;
            if sent < copied {
                return DrainEnd::UartFull;
            }
            if chunk[copied - 1] == b'\n' {
                self.end_turn(rings, ring);
            } else if emptied {
                // All of the line so far is out: the UART stays in it.
                self.end_turn(rings, ring);
                self.open = Some(ring);
            }
        }
    }

    /// The ring's turn is over: the round robin moves on to the next one.
    fn end_turn(&mut self, rings: &impl Rings, ring: usize) {
        self.current = None;
        self.notice_len = 0;
        self.notice_sent = 0;
        self.preamble_len = 0;
        self.preamble_sent = 0;
        self.next = (ring + 1) % rings.count().max(1);
    }

    /// What ring `ring`'s turn starts with: the end of a line another
    /// ring left open (or this ring's, before its drop notice), then this
    /// ring's prefix if it continues a line the drainer ended.
    fn prepare_preamble(&mut self, rings: &impl Rings, ring: usize) {
        let notice = self.notice_len > 0;
        let mut writer = PreambleWriter {
            out: &mut self.preamble,
            len: 0,
        };
        if let Some(open) = self.open {
            let continuing =
                open == ring && !notice && rings.with(open, |r| r.mid_line_out).unwrap_or(false);
            if !continuing {
                let _ = writer.write_bytes(b"\r\n");
                rings.with(open, |r| {
                    if r.mid_line_out {
                        r.resume_prefix = true;
                    }
                });
            }
            self.open = None;
        }
        if !notice && rings.with(ring, |r| core::mem::take(&mut r.resume_prefix)) == Some(true) {
            let _ = rings.write_prefix(ring, &mut writer);
        }
        self.preamble_len = writer.len;
        self.preamble_sent = 0;
    }

    /// The first ring, round robin from `next`, with something that may
    /// leave now; prepares its drop notice if that comes first.
    fn pick(&mut self, rings: &impl Rings, everything: bool) -> Option<usize> {
        let count = rings.count();
        for step in 0..count {
            let ring = (self.next + step) % count;
            let (now, idle) = (rings.now(), rings.idle_ticks());
            loop {
                let offer = rings.with(ring, |r| {
                    let partial = everything || r.partial_due(now, idle);
                    let notice = r.drop_notice_due();
                    if !(notice || r.has_line() || (partial && !r.is_empty())) {
                        return Offer::Nothing;
                    }
                    if let Some((other, until)) = r.next_barrier(notice, partial) {
                        return Offer::Blocked(other, until);
                    }
                    match r.take_drop_notice() {
                        Some(dropped) => Offer::Notice(dropped),
                        None => Offer::Line,
                    }
                });
                match offer {
                    None | Some(Offer::Nothing) => break,
                    Some(Offer::Line) => return Some(ring),
                    Some(Offer::Notice(dropped)) => {
                        self.prepare_notice(rings, ring, dropped);
                        return Some(ring);
                    }
                    Some(Offer::Blocked(other, until)) => {
                        let reached = other == ring
                            || rings.with(other, |r| r.position() >= until).unwrap_or(true);
                        if !reached {
                            break;
                        }
                        rings.with(ring, |r| r.clear_barrier());
                    }
                }
            }
        }
        None
    }

    fn prepare_notice(&mut self, rings: &impl Rings, ring: usize, dropped: u64) {
        let mut writer = NoticeWriter {
            out: &mut self.notice,
            len: 0,
        };
        let _ = rings.drop_notice(ring, dropped, &mut writer);
        let mut len = writer.len;
        self.notice[len] = b'\r';
        self.notice[len + 1] = b'\n';
        len += 2;
        self.notice_len = len;
        self.notice_sent = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::string::String;
    use std::vec::Vec;

    fn text(ring: &LineRing, partial: bool) -> String {
        let mut out = [0u8; 4096];
        let mut all = Vec::new();
        let mut copy = LineRing::<[u8; 4096]>::new();
        // Walk a copy so the ring under test is untouched.
        let mut index = 0;
        while index < ring.len() {
            copy.push(ring.bytes[(ring.head + index) % ring.capacity()]);
            index += 1;
        }
        loop {
            let n = copy.peek_line(&mut out, partial);
            if n == 0 {
                break;
            }
            all.extend_from_slice(&out[..n]);
            copy.consume(n);
        }
        String::from_utf8(all).unwrap()
    }

    #[test]
    fn hands_out_whole_lines_only() {
        let mut ring = LineRing::<[u8; 32]>::new();
        ring.push_slice(b"one\ntw");
        assert_eq!(ring.complete_len(), 4);
        assert_eq!(text(&ring, false), "one\n");
        assert_eq!(text(&ring, true), "one\ntw");
        let mut out = [0u8; 32];
        assert_eq!(ring.peek_line(&mut out, false), 4);
        ring.consume(4);
        assert!(!ring.has_line());
        assert_eq!(ring.peek_line(&mut out, false), 0);
        ring.push_slice(b"o\nthree\n");
        assert_eq!(ring.peek_line(&mut out, false), 4);
        assert_eq!(&out[..4], b"two\n");
        ring.consume(4);
        assert_eq!(ring.peek_line(&mut out, false), 6);
        assert_eq!(ring.position(), 8);
    }

    #[test]
    fn wraps_around() {
        let mut ring = LineRing::<[u8; 8]>::new();
        for round in 0..20u8 {
            let line = [b'a' + round % 26, b'b', b'\n'];
            ring.push_slice(&line);
            let mut out = [0u8; 8];
            assert_eq!(ring.peek_line(&mut out, false), 3);
            assert_eq!(&out[..3], &line);
            ring.consume(3);
            assert!(ring.is_empty());
        }
        assert_eq!(ring.position(), 60);
        assert_eq!(ring.dropped(), 0);
    }

    #[test]
    fn peek_stops_at_the_buffer_and_resumes() {
        let mut ring = LineRing::<[u8; 16]>::new();
        ring.push_slice(b"abcdefgh\n");
        let mut out = [0u8; 4];
        assert_eq!(ring.peek_line(&mut out, false), 4);
        ring.consume(3);
        assert_eq!(ring.peek_line(&mut out, false), 4);
        assert_eq!(&out, b"defg");
        ring.consume(4);
        assert_eq!(ring.peek_line(&mut out, false), 2);
        assert_eq!(&out[..2], b"h\n");
    }

    #[test]
    fn a_line_that_does_not_fit_is_dropped_whole_and_counted() {
        let mut ring = LineRing::<[u8; 8]>::new();
        ring.push_slice(b"ok\n");
        ring.push_slice(b"toolong\n");
        // "ok\n" stays; "toolo" (5 bytes) filled it, "n", "g", "\n" dropped with it.
        assert_eq!(text(&ring, true), "ok\n");
        assert_eq!(ring.dropped(), 8);
        assert!(!ring.is_discarding());
        ring.push_slice(b"hi\n");
        assert_eq!(text(&ring, true), "ok\nhi\n");
        assert_eq!(ring.dropped(), 8);
    }

    #[test]
    fn a_full_ring_of_whole_lines_drops_the_new_line() {
        let mut ring = LineRing::<[u8; 4]>::new();
        ring.push_slice(b"ab\n");
        ring.push_slice(b"c");
        ring.push_slice(b"de\n");
        assert_eq!(ring.dropped(), 4);
        assert_eq!(text(&ring, true), "ab\n");
        ring.push_slice(b"f\n");
        assert_eq!(ring.dropped(), 6);
        assert_eq!(ring.len(), 3);
    }

    #[test]
    fn the_drop_notice_waits_for_the_lines_before_the_drop() {
        let mut ring = LineRing::<[u8; 8]>::new();
        ring.push_slice(b"abcd\n");
        ring.push_slice(b"xyzw\n");
        ring.push_slice(b"ef\n");
        assert_eq!(ring.dropped(), 5);
        assert_eq!(ring.take_drop_notice(), None);
        ring.consume(5);
        assert_eq!(ring.take_drop_notice(), Some(5));
        assert_eq!(ring.take_drop_notice(), None);
        assert_eq!(text(&ring, false), "ef\n");
    }

    #[test]
    fn losses_elsewhere_join_the_count() {
        let mut ring = LineRing::<[u8; 8]>::new();
        ring.note_dropped(0);
        assert_eq!(ring.take_drop_notice(), None);
        ring.note_dropped(7);
        assert_eq!(ring.take_drop_notice(), Some(7));
    }

    /// The console's filter before rings: what each call wrote to the UART.
    fn reference(label: &str, calls: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at_line_start = true;
        for bytes in calls {
            for &byte in *bytes {
                if at_line_start {
                    out.extend_from_slice(format!("[{label}] ").as_bytes());
                    at_line_start = false;
                }
                match byte {
                    b'\n' => {
                        out.extend_from_slice(b"\r\n");
                        at_line_start = true;
                    }
                    b'\r' => {}
                    0x20..=0x7e | b'\t' => out.push(byte),
                    _ => out.push(b'?'),
                }
            }
        }
        out
    }

    #[test]
    fn guest_text_is_prefixed_and_filtered_per_line() {
        let mut ring = LineRing::<[u8; 256]>::new();
        let mut text = GuestText::new();
        for call in [&b"he"[..], b"llo\r\nsec", b"ond\x07\n", b"\r\n"] {
            assert_eq!(text.fill(&mut ring, "p0", call, false), call.len());
        }
        assert_eq!(
            self::text(&ring, true),
            "[p0] hello\r\n[p0] second?\r\n[p0] \r\n"
        );
    }

    #[test]
    fn guest_text_stops_where_the_ring_is_full_unless_it_may_drop() {
        let mut ring = LineRing::<[u8; 16]>::new();
        let mut text = GuestText::new();
        // "[ab] " + "0123456789" = 15 bytes; "\n" needs two more.
        assert_eq!(text.fill(&mut ring, "ab", b"0123456789\nxy", false), 10);
        assert_eq!(ring.dropped(), 0);
        assert_eq!(text.fill(&mut ring, "ab", b"\nxy", true), 3);
        // The line did not fit: all of it went, "[ab] xy" is the new line.
        assert_eq!(ring.dropped(), 17);
        assert_eq!(self::text(&ring, true), "[ab] xy");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// With room enough and a drain after every call, the UART sees
        /// exactly what the console printed before it had rings.
        #[test]
        fn guest_text_through_a_ring_matches_the_old_console(
            calls in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::prop_oneof![
                        proptest::prelude::Just(b'\n'),
                        proptest::prelude::Just(b'\r'),
                        proptest::prelude::any::<u8>(),
                        0x20u8..0x7f,
                    ],
                    0..200,
                ),
                0..20,
            ),
            label in "[a-z0-9-]{1,12}",
        ) {
            // Room for the longest line: nothing is dropped.
            let rings = FakeRings::<256>::new(2);
            let mut text = GuestText::new();
            let mut drainer = Drainer::new();
            let mut uart = unlimited();
            let mut flush = unlimited();
            for call in &calls {
                let mut rest = &call[..];
                while !rest.is_empty() {
                    let taken = rings
                        .with(1, |r| text.fill(r, &label, rest, false))
                        .unwrap();
                    proptest::prop_assert!(taken > 0 || rings.0[1].borrow().has_line());
                    rest = &rest[taken..];
                    drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
                }
            }
            drainer.drain(&rings, &mut flush, usize::MAX, DrainMode::Everything);
            let mut seen = uart.out.clone();
            seen.extend_from_slice(&flush.out);
            let calls: Vec<&[u8]> = calls.iter().map(|c| &c[..]).collect();
            proptest::prop_assert_eq!(seen, reference(&label, &calls));
            proptest::prop_assert_eq!(rings.0[1].borrow().dropped(), 0);
        }
    }

    /// A UART with a FIFO of `room` bytes that the test empties by hand.
    struct FakeUart {
        room: usize,
        out: Vec<u8>,
    }

    impl Uart for FakeUart {
        fn try_put(&mut self, byte: u8) -> bool {
            if self.room == 0 {
                return false;
            }
            self.room -= 1;
            self.out.push(byte);
            true
        }
    }

    impl FakeUart {
        fn with_room(room: usize) -> FakeUart {
            FakeUart {
                room,
                out: Vec::new(),
            }
        }

        fn text(&self) -> String {
            String::from_utf8(self.out.clone()).unwrap()
        }
    }

    struct FakeRings<const N: usize>(Vec<RefCell<LineRing<[u8; N]>>>);

    impl<const N: usize> FakeRings<N> {
        fn new(count: usize) -> Self {
            FakeRings((0..count).map(|_| RefCell::new(LineRing::new())).collect())
        }

        fn push(&self, ring: usize, bytes: &[u8]) {
            self.0[ring].borrow_mut().push_slice(bytes);
        }
    }

    impl<const N: usize> Rings for FakeRings<N> {
        fn count(&self) -> usize {
            self.0.len()
        }

        fn with<T>(&self, ring: usize, f: impl FnOnce(&mut LineRing) -> T) -> Option<T> {
            let cell = self.0.get(ring)?;
            let mut ring = cell.borrow_mut();
            Some(f(&mut ring))
        }

        fn drop_notice(&self, ring: usize, dropped: u64, out: &mut dyn fmt::Write) -> fmt::Result {
            write!(out, "[r{ring}] (console: {dropped} bytes dropped)")
        }
    }

    fn unlimited() -> FakeUart {
        FakeUart::with_room(usize::MAX)
    }

    #[test]
    fn drains_round_robin_one_line_per_turn_starting_with_ring_zero() {
        let rings = FakeRings::<64>::new(3);
        rings.push(1, b"a1\na2\n");
        rings.push(2, b"b1\n");
        rings.push(0, b"h1\nh2\n");
        let mut drainer = Drainer::new();
        let mut uart = unlimited();
        let end = drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        assert_eq!(end, DrainEnd::Idle);
        assert_eq!(uart.text(), "h1\na1\nb1\nh2\na2\n");
    }

    #[test]
    fn a_started_line_is_finished_before_another_ring_is_served() {
        let rings = FakeRings::<64>::new(2);
        rings.push(0, b"hello\n");
        rings.push(1, b"guest\n");
        let mut drainer = Drainer::new();
        let mut uart = FakeUart::with_room(3);
        assert_eq!(
            drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines),
            DrainEnd::UartFull
        );
        assert_eq!(uart.text(), "hel");
        assert!(drainer.is_mid_line());
        // Ring 0 gets more lines meanwhile; ring 1 still comes next after "lo\n".
        rings.push(0, b"again\n");
        uart.room = 4;
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        assert_eq!(uart.text(), "hello\ng");
        uart.room = usize::MAX;
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        assert_eq!(uart.text(), "hello\nguest\nagain\n");
    }

    #[test]
    fn a_line_being_written_waits_for_its_end() {
        let rings = FakeRings::<64>::new(2);
        rings.push(1, b"partial");
        rings.push(0, b"log\n");
        let mut drainer = Drainer::new();
        let mut uart = unlimited();
        assert_eq!(
            drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines),
            DrainEnd::Idle
        );
        assert_eq!(uart.text(), "log\n");
        rings.push(1, b" line\n");
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        assert_eq!(uart.text(), "log\npartial line\n");
    }

    #[test]
    fn a_flush_also_takes_lines_being_written() {
        let rings = FakeRings::<64>::new(2);
        rings.push(1, b"no end");
        rings.push(0, b"a\nb");
        let mut drainer = Drainer::new();
        let mut uart = unlimited();
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Everything);
        // The partial line of ring 1 is ended before ring 0's goes out.
        assert_eq!(uart.text(), "a\nno end\r\nb");
        assert!(rings.0.iter().all(|r| r.borrow().is_empty()));
    }

    #[test]
    fn long_lines_are_never_split_by_other_rings() {
        let rings = FakeRings::<64>::new(2);
        let long = [b'x'; 50];
        rings.push(1, &long);
        rings.push(1, b"\n");
        rings.push(0, b"short\n");
        let mut drainer = Drainer::new();
        let mut uart = FakeUart::with_room(0);
        let mut steps = 0;
        while steps < 100 {
            uart.room = 7;
            if drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines) == DrainEnd::Idle {
                break;
            }
            steps += 1;
        }
        let mut expected = String::from("short\n");
        expected.push_str(&"x".repeat(50));
        expected.push('\n');
        assert_eq!(uart.text(), expected);
    }

    #[test]
    fn the_drop_notice_comes_once_at_a_line_boundary() {
        let rings = FakeRings::<64>::new(2);
        rings.push(1, &[b'a'; 40]);
        rings.push(1, b"\n");
        rings.push(1, &[b'b'; 40]);
        rings.push(1, b"\n");
        rings.push(1, b"after\n");
        assert_eq!(rings.0[1].borrow().dropped(), 41);
        let mut drainer = Drainer::new();
        let mut uart = unlimited();
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        let mut expected = "a".repeat(40);
        expected.push_str("\n[r1] (console: 41 bytes dropped)\r\nafter\n");
        assert_eq!(uart.text(), expected);
        assert_eq!(rings.0[1].borrow().dropped(), 0);
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        assert_eq!(uart.text(), expected);
    }

    #[test]
    fn a_drop_notice_cut_by_a_full_fifo_is_finished_first() {
        let rings = FakeRings::<64>::new(2);
        rings.0[1].borrow_mut().note_dropped(3);
        rings.push(0, b"h\n");
        let mut drainer = Drainer::new();
        let mut uart = FakeUart::with_room(2 + 5);
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        assert_eq!(uart.text(), "h\n[r1] ");
        rings.push(0, b"h2\n");
        uart.room = usize::MAX;
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        assert_eq!(uart.text(), "h\n[r1] (console: 3 bytes dropped)\r\nh2\n");
    }

    #[test]
    fn the_budget_bounds_one_drain() {
        let rings = FakeRings::<64>::new(1);
        rings.push(0, b"0123456789\n0123456789\n");
        let mut drainer = Drainer::new();
        let mut uart = unlimited();
        assert_eq!(
            drainer.drain(&rings, &mut uart, 11, DrainMode::Lines),
            DrainEnd::Budget
        );
        assert_eq!(uart.out.len(), 11);
        assert_eq!(
            drainer.drain(&rings, &mut uart, 11, DrainMode::Lines),
            DrainEnd::Budget
        );
        assert_eq!(
            drainer.drain(&rings, &mut uart, 11, DrainMode::Lines),
            DrainEnd::Idle
        );
    }

    #[test]
    fn a_flooding_writer_loses_only_its_own_lines_and_they_are_reported() {
        // Ring 1 writes far more than a slow UART carries; ring 0 writes a
        // line now and then. Every line of ring 0 gets out, every line that
        // gets out is whole, and ring 1's losses are reported.
        let rings = FakeRings::<256>::new(2);
        let mut flood = GuestText::new();
        let mut drainer = Drainer::new();
        let mut uart = FakeUart::with_room(0);
        for n in 0..2000 {
            if n % 100 == 0 {
                rings.push(0, format!("bulkhead: report {n}\n").as_bytes());
            }
            let line = format!("flood {n} {}\n", "x".repeat(40));
            let mut rest = line.as_bytes();
            let mut may_drop = false;
            while !rest.is_empty() {
                let taken = rings
                    .with(1, |r| flood.fill(r, "p1", rest, may_drop))
                    .unwrap();
                rest = &rest[taken..];
                uart.room += 4;
                drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
                may_drop = true;
            }
        }
        uart.room = usize::MAX;
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        let out = uart.text();
        let reports = out
            .lines()
            .filter(|l| l.starts_with("bulkhead: report "))
            .count();
        assert_eq!(reports, 20);
        let mut dropped = 0;
        for line in out.lines() {
            if let Some(count) = line
                .strip_prefix("[r1] (console: ")
                .and_then(|rest| rest.strip_suffix(" bytes dropped)"))
            {
                dropped += count.parse::<u64>().unwrap();
            } else if let Some(text) = line.strip_prefix("[p1] flood ") {
                assert!(text.ends_with(&"x".repeat(40)), "cut line {line:?}");
            } else {
                assert!(line.starts_with("bulkhead: report "), "stray line {line:?}");
            }
        }
        let emitted_flood: usize = out
            .lines()
            .filter(|l| l.starts_with("[p1] flood "))
            // `lines` takes the `\r\n` off.
            .map(|l| l.len() + 2)
            .sum();
        let written: usize = (0..2000)
            .map(|n| format!("[p1] flood {n} {}\r\n", "x".repeat(40)).len())
            .sum();
        assert!(dropped > 0);
        assert_eq!(emitted_flood as u64 + dropped, written as u64);
    }

    #[test]
    fn a_writer_that_moves_rings_keeps_its_order() {
        // A core wrote "g1" to ring 1, then a report to ring 0; the drainer
        // (round robin, ring 0 first) must still emit g1 first.
        let rings = FakeRings::<64>::new(3);
        rings.push(2, b"other\n");
        rings.push(1, b"g1\n");
        let until = rings.0[1].borrow().completed_position();
        assert!(rings.0[0].borrow_mut().order_after(1, until));
        rings.push(0, b"report\n");
        rings.push(0, b"later\n");
        let mut drainer = Drainer::new();
        let mut uart = unlimited();
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        assert_eq!(uart.text(), "g1\nother\nreport\nlater\n");
    }

    #[test]
    fn a_constraint_waits_only_for_what_came_before() {
        let rings = FakeRings::<64>::new(2);
        rings.push(0, b"boot\n");
        let until = rings.0[0].borrow().completed_position();
        rings.0[1].borrow_mut().order_after(0, until);
        rings.push(1, b"g1\n");
        // Ring 0 grows after the constraint: g1 need not wait for it.
        rings.push(0, b"x\n");
        let mut drainer = Drainer::new();
        drainer.next = 1;
        let mut uart = unlimited();
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        assert_eq!(uart.text(), "boot\ng1\nx\n");
    }

    #[test]
    fn constraints_merge_and_are_bounded() {
        let mut ring = LineRing::<[u8; 16]>::new();
        for until in 0..20 {
            assert!(ring.order_after(1, until));
        }
        assert_eq!(ring.barrier_count, 1);
        for other in 0..MAX_BARRIERS + 4 {
            ring.order_after(2 + other, 1);
        }
        assert_eq!(ring.barrier_count, MAX_BARRIERS);
        assert!(!ring.order_after(99, 1));
    }

    #[test]
    fn a_dropped_line_passes_its_constraint_to_the_next_line() {
        let rings = FakeRings::<64>::new(2);
        rings.push(0, b"first\n");
        let until = rings.0[0].borrow().completed_position();
        rings.push(1, b"abc");
        rings.0[1].borrow_mut().order_after(0, until);
        rings.push(1, &[b'z'; 70]);
        rings.push(1, b"\n");
        rings.push(1, b"next\n");
        let mut drainer = Drainer::new();
        drainer.next = 1;
        let mut uart = unlimited();
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        assert_eq!(
            uart.text(),
            "first\n[r1] (console: 74 bytes dropped)\r\nnext\n"
        );
    }

    #[test]
    fn long_notice_texts_are_cut_but_keep_their_line_end() {
        struct Wordy;
        impl Rings for Wordy {
            fn count(&self) -> usize {
                1
            }
            fn with<T>(&self, _: usize, f: impl FnOnce(&mut LineRing) -> T) -> Option<T> {
                let mut ring = LineRing::<[u8; 4]>::new();
                ring.note_dropped(1);
                Some(f(&mut ring))
            }
            fn drop_notice(&self, _: usize, _: u64, out: &mut dyn fmt::Write) -> fmt::Result {
                out.write_str(&"w".repeat(500))
            }
        }
        let mut drainer = Drainer::new();
        let mut uart = FakeUart::with_room(200);
        drainer.drain(&Wordy, &mut uart, 150, DrainMode::Lines);
        let text = uart.text();
        assert!(text.starts_with(&"w".repeat(NOTICE_BYTES - 2)));
        assert_eq!(&text[NOTICE_BYTES - 2..NOTICE_BYTES], "\r\n");
    }

    /// FakeRings whose rings 1.. are guest rings (`[rN] ` prefixes) on a
    /// clock at 1,000 with an idle time of 100.
    struct Interactive {
        rings: FakeRings<256>,
    }

    impl Interactive {
        fn new(count: usize) -> Self {
            Interactive {
                rings: FakeRings::new(count),
            }
        }

        /// Ring `ring`'s writer idle (its partial line may leave) or not.
        fn flush(&self, ring: usize, on: bool) {
            self.rings.0[ring]
                .borrow_mut()
                .touch(if on { 0 } else { 1_000 });
        }
    }

    impl Rings for Interactive {
        fn count(&self) -> usize {
            self.rings.count()
        }
        fn with<T>(&self, ring: usize, f: impl FnOnce(&mut LineRing) -> T) -> Option<T> {
            self.rings.with(ring, f)
        }
        fn drop_notice(&self, ring: usize, dropped: u64, out: &mut dyn fmt::Write) -> fmt::Result {
            self.rings.drop_notice(ring, dropped, out)
        }
        fn now(&self) -> u64 {
            1_000
        }
        fn idle_ticks(&self) -> u64 {
            100
        }
        fn write_prefix(&self, ring: usize, out: &mut dyn fmt::Write) -> fmt::Result {
            write!(out, "[r{ring}] ")
        }
    }

    #[test]
    fn a_partial_line_leaves_only_when_allowed_and_continues_inline() {
        let rings = Interactive::new(2);
        let mut drainer = Drainer::new();
        let mut uart = unlimited();
        rings.rings.push(1, b"[r1] / # ");
        rings.flush(1, false);
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        assert_eq!(uart.text(), "", "whole lines only while the writer is busy");
        rings.flush(1, true);
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        assert_eq!(uart.text(), "[r1] / # ");
        assert!(drainer.is_mid_line());
        rings.rings.push(1, b"ls\r\n");
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        assert_eq!(uart.text(), "[r1] / # ls\r\n");
        assert!(!drainer.is_mid_line());
    }

    #[test]
    fn another_ring_ends_an_open_line_and_the_continuation_is_prefixed_again() {
        let rings = Interactive::new(3);
        let mut drainer = Drainer::new();
        let mut uart = unlimited();
        rings.flush(1, true);
        rings.rings.push(1, b"[r1] typing");
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        rings.rings.push(2, b"[r2] a whole line\r\n");
        rings.rings.push(0, b"bulkhead: hello\r\n");
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        rings.rings.push(1, b" more\r\n");
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        let text = uart.text();
        assert!(text.starts_with("[r1] typing\r\n"), "{text}");
        assert!(text.ends_with("[r1]  more\r\n"), "{text}");
        for line in text.split("\r\n").filter(|l| !l.is_empty()) {
            assert_eq!(
                line.matches('[').count() + line.matches("bulkhead").count(),
                1,
                "{line}"
            );
        }
    }

    #[test]
    fn a_dropped_open_line_is_ended_before_its_notice() {
        let rings = Interactive::new(2);
        let mut drainer = Drainer::new();
        let mut uart = unlimited();
        rings.flush(1, true);
        rings.rings.push(1, b"[r1] start");
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        rings.flush(1, false);
        // The rest of the line overflows the ring: it is dropped whole.
        rings.rings.push(1, &[b'x'; 300]);
        rings.rings.push(1, b"\n[r1] next\r\n");
        drainer.drain(&rings, &mut uart, usize::MAX, DrainMode::Lines);
        let text = uart.text();
        assert!(text.starts_with("[r1] start\r\n[r1] (console: "), "{text}");
        assert!(text.ends_with("bytes dropped)\r\n[r1] next\r\n"), "{text}");
    }

    #[test]
    fn typed_at_rings_flush_partial_lines_at_once() {
        let mut ring = LineRing::<[u8; 16]>::new();
        ring.touch(950);
        assert!(!ring.partial_due(1_000, 100));
        assert!(ring.partial_due(1_050, 100));
        ring.flush_eagerly_until(1_200);
        assert!(ring.partial_due(1_000, 100));
        assert!(!ring.partial_due(1_200, 300));
    }
}
