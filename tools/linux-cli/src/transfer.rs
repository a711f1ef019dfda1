//! The transfer convention (`bulkhead_abi::transfer`) over any channel endpoint: send, receive, ping, pong.
//!
//! The shared memory may be Device memory in the guest, so an [`Endpoint`]
//! moves only aligned u64 words; chunks are packed into words here. Every
//! wait re-checks its condition in shared memory before blocking, since
//! doorbells coalesce.
#![forbid(unsafe_code)]

use std::fmt;
use std::io::{Read, Write};
use std::sync::atomic::{fence, Ordering};

use bulkhead_abi::transfer::{
    self, checksum, ACK, CHECKSUM, CHECKSUM_SEED, DATA_OFFSET, LANE_HEADER, LENGTH, PING, PONG,
    SEQUENCE,
};

/// One endpoint of a channel: its shared memory as u64 words and its doorbell.
pub trait Endpoint {
    /// Bytes of shared memory.
    fn size(&self) -> u64;
    /// This endpoint's index in the channel.
    fn index(&self) -> u32;
    /// The u64 at `offset` (8-aligned, inside the memory).
    fn load(&self, offset: u64) -> u64;
    /// Stores `value` at `offset` (8-aligned, inside the memory).
    fn store(&self, offset: u64, value: u64);
    /// Rings endpoint `peer`'s doorbell.
    fn ring(&self, peer: u32);
    /// Blocks until a doorbell may have rung here; may return spuriously.
    fn wait(&self) -> std::io::Result<()>;
}

/// Why a transfer or ping stopped.
#[derive(Debug)]
pub enum TransferError {
    /// The lane has no data area in a channel of this size (only the first two lanes do).
    NoDataArea {
        lane: u32,
        size: u64,
    },
    /// `--peer` names no other endpoint.
    BadPeer {
        peer: u32,
        own: u32,
        endpoints: u32,
    },
    /// The channel has no endpoint besides ours.
    NoPeer,
    /// A chunk's data does not match its checksum.
    ChecksumMismatch {
        chunk: u64,
        expected: u64,
        computed: u64,
    },
    /// A chunk claims more bytes than the data area holds.
    ChunkTooLong {
        chunk: u64,
        length: u64,
        capacity: u64,
    },
    /// The sender's SEQUENCE is not one past its ACK: the lane was left mid-transfer.
    OutOfStep {
        sequence: u64,
        ack: u64,
    },
    Input(std::io::Error),
    Output(std::io::Error),
    /// Waiting for the doorbell failed.
    Wait(std::io::Error),
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::NoDataArea { lane, size } => write!(
                f,
                "endpoint {lane} has no data area in a {size}-byte channel (only endpoints 0 and 1 can send)"
            ),
            TransferError::BadPeer { peer, own, endpoints } => write!(
                f,
                "--peer {peer} is not another endpoint (this is endpoint {own} of {endpoints})"
            ),
            TransferError::NoPeer => write!(f, "the channel has no other endpoint"),
            TransferError::ChecksumMismatch {
                chunk,
                expected,
                computed,
            } => write!(
                f,
                "chunk {chunk}: bad checksum (header 0x{expected:016x}, data 0x{computed:016x})"
            ),
            TransferError::ChunkTooLong {
                chunk,
                length,
                capacity,
            } => write!(
                f,
                "chunk {chunk}: length {length} exceeds the {capacity}-byte data area"
            ),
            TransferError::OutOfStep { sequence, ack } => write!(
                f,
                "sender lane out of step (sequence {sequence}, ack {ack}): a transfer was left unfinished"
            ),
            TransferError::Input(error) => write!(f, "reading the input: {error}"),
            TransferError::Output(error) => write!(f, "writing the output: {error}"),
            TransferError::Wait(error) => write!(f, "waiting for the doorbell: {error}"),
        }
    }
}

/// Bytes moved and their checksum ([`transfer::checksum`] from [`CHECKSUM_SEED`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub bytes: u64,
    pub checksum: u64,
}

impl Summary {
    fn new() -> Summary {
        Summary {
            bytes: 0,
            checksum: CHECKSUM_SEED,
        }
    }

    fn add(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        self.checksum = checksum(self.checksum, chunk);
    }
}

/// `sent N bytes checksum 0x...` / `received N bytes checksum 0x...`.
pub fn summary_line(verb: &str, summary: Summary) -> String {
    format!(
        "{verb} {} bytes checksum 0x{:016x}",
        summary.bytes, summary.checksum
    )
}

/// The peer to talk to: `requested`, or the lowest index other than `own`.
pub fn choose_peer(own: u32, endpoints: u32, requested: Option<u32>) -> Result<u32, TransferError> {
    match requested {
        Some(peer) if peer != own && peer < endpoints => Ok(peer),
        Some(peer) => Err(TransferError::BadPeer {
            peer,
            own,
            endpoints,
        }),
        None => (0..endpoints)
            .find(|&index| index != own)
            .ok_or(TransferError::NoPeer),
    }
}

/// Offset of `field` in lane `lane`'s header.
pub fn lane_field(lane: u32, field: u64) -> u64 {
    u64::from(lane) * LANE_HEADER + field
}

/// Offset and size of lane `lane`'s data area, checked to lie inside the channel.
pub fn data_area(size: u64, lane: u32) -> Result<(u64, u64), TransferError> {
    let (offset, capacity) = transfer::data_area(size, u64::from(lane));
    let inside = offset.checked_add(capacity).is_some_and(|end| end <= size);
    if capacity == 0 || !inside || lane_field(lane, LANE_HEADER) > DATA_OFFSET {
        return Err(TransferError::NoDataArea { lane, size });
    }
    Ok((offset, capacity))
}

/// Writes `bytes` at `offset` (8-aligned) as u64 words, the last one zero-padded.
pub fn store_bytes(endpoint: &impl Endpoint, offset: u64, bytes: &[u8]) {
    for (index, piece) in bytes.chunks(8).enumerate() {
        let mut word = [0u8; 8];
        word[..piece.len()].copy_from_slice(piece);
        endpoint.store(offset + index as u64 * 8, u64::from_le_bytes(word));
    }
}

/// Reads `length` bytes at `offset` (8-aligned) as u64 words.
pub fn load_bytes(endpoint: &impl Endpoint, offset: u64, length: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(length.next_multiple_of(8) as usize);
    for index in 0..length.div_ceil(8) {
        bytes.extend_from_slice(&endpoint.load(offset + index * 8).to_le_bytes());
    }
    bytes.truncate(length as usize);
    bytes
}

/// Blocks on the doorbell until `ready` holds, checking it before each wait.
fn wait_until<E: Endpoint>(endpoint: &E, ready: impl Fn(&E) -> bool) -> Result<(), TransferError> {
    while !ready(endpoint) {
        endpoint.wait().map_err(TransferError::Wait)?;
    }
    // Whatever the condition published is read after it.
    fence(Ordering::SeqCst);
    Ok(())
}

/// Fills `buffer` from `input` until it is full or the input ends; returns the length.
fn fill(input: &mut impl Read, buffer: &mut [u8]) -> Result<usize, TransferError> {
    let mut length = 0;
    while length < buffer.len() {
        match input.read(&mut buffer[length..]) {
            Ok(0) => break,
            Ok(count) => length += count,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(TransferError::Input(error)),
        }
    }
    Ok(length)
}

/// Sends all of `input` to `peer` through this endpoint's lane, then the
/// end-of-stream chunk; returns once the peer has acknowledged everything.
pub fn send(
    endpoint: &impl Endpoint,
    peer: u32,
    input: &mut impl Read,
) -> Result<Summary, TransferError> {
    let lane = endpoint.index();
    let (area, capacity) = data_area(endpoint.size(), lane)?;
    let field = |name| lane_field(lane, name);
    let mut buffer = vec![0u8; capacity as usize];
    let mut summary = Summary::new();
    loop {
        // Read the next chunk while the receiver may still be copying the last.
        let length = fill(input, &mut buffer)?;
        let chunk = &buffer[..length];
        let sequence = endpoint.load(field(SEQUENCE));
        wait_until(endpoint, |e| e.load(field(ACK)) == sequence)?;
        store_bytes(endpoint, area, chunk);
        endpoint.store(field(LENGTH), length as u64);
        endpoint.store(field(CHECKSUM), checksum(CHECKSUM_SEED, chunk));
        // The chunk is complete before SEQUENCE says so.
        fence(Ordering::SeqCst);
        endpoint.store(field(SEQUENCE), sequence + 1);
        endpoint.ring(peer);
        summary.add(chunk);
        if length == 0 {
            wait_until(endpoint, |e| e.load(field(ACK)) == sequence + 1)?;
            return Ok(summary);
        }
    }
}

/// Receives a stream from `peer`'s lane into `output`, verifying every chunk.
pub fn receive(
    endpoint: &impl Endpoint,
    peer: u32,
    output: &mut impl Write,
) -> Result<Summary, TransferError> {
    let (area, capacity) = data_area(endpoint.size(), peer)?;
    let field = |name| lane_field(peer, name);
    let mut summary = Summary::new();
    loop {
        let ack = endpoint.load(field(ACK));
        wait_until(endpoint, |e| e.load(field(SEQUENCE)) != ack)?;
        let sequence = endpoint.load(field(SEQUENCE));
        if sequence != ack.wrapping_add(1) {
            return Err(TransferError::OutOfStep { sequence, ack });
        }
        let length = endpoint.load(field(LENGTH));
        if length > capacity {
            return Err(TransferError::ChunkTooLong {
                chunk: sequence,
                length,
                capacity,
            });
        }
        let expected = endpoint.load(field(CHECKSUM));
        let chunk = load_bytes(endpoint, area, length);
        let computed = checksum(CHECKSUM_SEED, &chunk);
        if computed != expected {
            return Err(TransferError::ChecksumMismatch {
                chunk: sequence,
                expected,
                computed,
            });
        }
        output.write_all(&chunk).map_err(TransferError::Output)?;
        summary.add(&chunk);
        // The chunk has been read out before the sender may overwrite it.
        fence(Ordering::SeqCst);
        endpoint.store(field(ACK), sequence);
        endpoint.ring(peer);
        if length == 0 {
            output.flush().map_err(TransferError::Output)?;
            return Ok(summary);
        }
    }
}

/// Where the answer to a ping lands: the ponging endpoint's own lane.
fn pong_field(ponger: u32) -> u64 {
    lane_field(ponger, PONG)
}

/// `count` round trips: PING = n in our lane, ring, wait for the peer's PONG
/// == n. Returns the counter ticks `clock` measured over all of them.
pub fn ping(
    endpoint: &impl Endpoint,
    peer: u32,
    count: u64,
    clock: impl Fn() -> Option<u64>,
) -> Result<Option<u64>, TransferError> {
    let own = lane_field(endpoint.index(), PING);
    let first = endpoint.load(own);
    let start = clock();
    for round in 1..=count {
        let value = first.wrapping_add(round);
        endpoint.store(own, value);
        endpoint.ring(peer);
        wait_until(endpoint, |e| e.load(pong_field(peer)) == value)?;
    }
    Ok(start
        .zip(clock())
        .map(|(start, end)| end.wrapping_sub(start)))
}

/// Answers `count` pings: each time the peer's PING moves, PONG = that value
/// in our lane, then ring the peer.
pub fn pong(endpoint: &impl Endpoint, peer: u32, count: u64) -> Result<(), TransferError> {
    let own = pong_field(endpoint.index());
    let pinged = lane_field(peer, PING);
    let mut answered = endpoint.load(own);
    for _ in 0..count {
        wait_until(endpoint, |e| e.load(pinged) != answered)?;
        answered = endpoint.load(pinged);
        endpoint.store(own, answered);
        endpoint.ring(peer);
    }
    Ok(())
}

/// An in-memory channel whose endpoints run on threads: the host tests' hardware.
#[cfg(test)]
pub mod fake {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    use super::Endpoint;

    /// Shared words and one doorbell flag per endpoint.
    pub struct FakeChannel {
        words: Vec<AtomicU64>,
        doorbells: Vec<(Mutex<bool>, Condvar)>,
    }

    /// One endpoint's view of a [`FakeChannel`].
    #[derive(Clone)]
    pub struct FakeEndpoint {
        pub channel: Arc<FakeChannel>,
        pub index: u32,
    }

    impl FakeChannel {
        /// The endpoints of a new zeroed channel of `size` bytes (a multiple of 8).
        pub fn endpoints(size: u64, endpoints: u32) -> Vec<FakeEndpoint> {
            let channel = Arc::new(FakeChannel {
                words: (0..size / 8).map(|_| AtomicU64::new(0)).collect(),
                doorbells: (0..endpoints)
                    .map(|_| (Mutex::new(false), Condvar::new()))
                    .collect(),
            });
            (0..endpoints)
                .map(|index| FakeEndpoint {
                    channel: channel.clone(),
                    index,
                })
                .collect()
        }

        fn word(&self, offset: u64) -> &AtomicU64 {
            assert_eq!(offset % 8, 0, "misaligned access at {offset:#x}");
            &self.words[(offset / 8) as usize]
        }
    }

    impl Endpoint for FakeEndpoint {
        fn size(&self) -> u64 {
            self.channel.words.len() as u64 * 8
        }

        fn index(&self) -> u32 {
            self.index
        }

        fn load(&self, offset: u64) -> u64 {
            self.channel.word(offset).load(Ordering::Relaxed)
        }

        fn store(&self, offset: u64, value: u64) {
            self.channel.word(offset).store(value, Ordering::Relaxed);
        }

        fn ring(&self, peer: u32) {
            assert_ne!(peer, self.index, "an endpoint rang itself");
            let (flag, condvar) = &self.channel.doorbells[peer as usize];
            *flag.lock().expect("doorbell lock") = true;
            condvar.notify_all();
        }

        fn wait(&self) -> std::io::Result<()> {
            let (flag, condvar) = &self.channel.doorbells[self.index as usize];
            let guard = flag.lock().expect("doorbell lock");
            let (mut guard, timeout) = condvar
                .wait_timeout_while(guard, Duration::from_secs(10), |rung| !*rung)
                .expect("doorbell lock");
            if timeout.timed_out() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no doorbell for 10 s (deadlock?)",
                ));
            }
            *guard = false;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::fake::{FakeChannel, FakeEndpoint};
    use super::*;

    /// A channel whose data areas hold 64 bytes each.
    const SMALL: u64 = DATA_OFFSET + 128;

    fn pattern(length: usize) -> Vec<u8> {
        (0..length).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn transfer(endpoints: &[FakeEndpoint], from: u32, to: u32, data: &[u8]) -> (Summary, Vec<u8>) {
        let sender = endpoints[from as usize].clone();
        let receiver = endpoints[to as usize].clone();
        let data = data.to_vec();
        let sending = thread::spawn(move || send(&sender, to, &mut data.as_slice()));
        let mut output = Vec::new();
        let received = receive(&receiver, from, &mut output).expect("receive");
        let sent = sending.join().expect("sender thread").expect("send");
        assert_eq!(sent, received);
        (received, output)
    }

    #[test]
    fn streams_of_every_shape_arrive_intact() {
        for length in [0, 1, 7, 8, 9, 63, 64, 65, 64 * 3 + 5, 1000] {
            let endpoints = FakeChannel::endpoints(SMALL, 2);
            let data = pattern(length);
            let (summary, output) = transfer(&endpoints, 0, 1, &data);
            assert_eq!(output, data, "length {length}");
            assert_eq!(summary.bytes, length as u64);
            assert_eq!(summary.checksum, checksum(CHECKSUM_SEED, &data));
            // Chunks of 64 bytes, then the end-of-stream chunk; all acknowledged.
            let chunks = length.div_ceil(64) as u64 + 1;
            assert_eq!(endpoints[0].load(lane_field(0, SEQUENCE)), chunks);
            assert_eq!(endpoints[0].load(lane_field(0, ACK)), chunks);
        }
    }

    #[test]
    fn back_to_back_transfers_both_ways() {
        let endpoints = FakeChannel::endpoints(SMALL, 2);
        for (round, (from, to)) in [(0, 1), (1, 0), (0, 1), (1, 0)].into_iter().enumerate() {
            let data = pattern(100 + round * 37);
            let (_, output) = transfer(&endpoints, from, to, &data);
            assert_eq!(output, data);
        }
    }

    #[test]
    fn a_large_channel_moves_a_megabyte_in_few_chunks() {
        let endpoints = FakeChannel::endpoints(1 << 20, 2);
        let data = pattern(3 << 20);
        let (summary, output) = transfer(&endpoints, 1, 0, &data);
        assert!(output == data);
        assert_eq!(summary.checksum, checksum(CHECKSUM_SEED, &data));
        let (_, capacity) = data_area(1 << 20, 1).expect("lane 1");
        assert_eq!(
            endpoints[1].load(lane_field(1, SEQUENCE)),
            (3u64 << 20).div_ceil(capacity) + 1
        );
    }

    #[test]
    fn a_bad_chunk_is_refused() {
        let endpoints = FakeChannel::endpoints(SMALL, 2);
        let sender = &endpoints[0];
        let (area, _) = data_area(SMALL, 0).expect("lane 0");
        store_bytes(sender, area, b"hello");
        sender.store(lane_field(0, LENGTH), 5);
        sender.store(lane_field(0, CHECKSUM), checksum(CHECKSUM_SEED, b"hellO"));
        sender.store(lane_field(0, SEQUENCE), 1);
        let error = receive(&endpoints[1], 0, &mut Vec::new()).expect_err("bad checksum");
        assert!(matches!(
            error,
            TransferError::ChecksumMismatch { chunk: 1, .. }
        ));
        assert!(
            error
                .to_string()
                .starts_with("chunk 1: bad checksum (header 0x"),
            "{error}"
        );
        // Nothing was acknowledged.
        assert_eq!(sender.load(lane_field(0, ACK)), 0);

        sender.store(lane_field(0, LENGTH), 65);
        let error = receive(&endpoints[1], 0, &mut Vec::new()).expect_err("too long");
        assert!(matches!(
            error,
            TransferError::ChunkTooLong {
                length: 65,
                capacity: 64,
                ..
            }
        ));

        sender.store(lane_field(0, SEQUENCE), 3);
        let error = receive(&endpoints[1], 0, &mut Vec::new()).expect_err("out of step");
        assert!(matches!(
            error,
            TransferError::OutOfStep {
                sequence: 3,
                ack: 0
            }
        ));
    }

    #[test]
    fn ping_pong_round_trips_repeat() {
        let endpoints = FakeChannel::endpoints(SMALL, 2);
        for count in [1, 5, 3] {
            let ponger = endpoints[1].clone();
            let ponging = thread::spawn(move || pong(&ponger, 0, count));
            let ticks = ping(&endpoints[0], 1, count, || Some(10)).expect("ping");
            ponging.join().expect("pong thread").expect("pong");
            assert_eq!(ticks, Some(0));
        }
        // PING counts in the pinger's lane, PONG answers in the ponger's.
        assert_eq!(endpoints[0].load(lane_field(0, PING)), 9);
        assert_eq!(endpoints[1].load(lane_field(1, PONG)), 9);
        assert_eq!(endpoints[0].load(lane_field(0, PONG)), 0);
        // The roles can swap; each side's counters stay its own.
        let ponger = endpoints[0].clone();
        let ponging = thread::spawn(move || pong(&ponger, 1, 2));
        assert_eq!(ping(&endpoints[1], 0, 2, || None).expect("ping"), None);
        ponging.join().expect("pong thread").expect("pong");
        assert_eq!(endpoints[0].load(lane_field(0, PONG)), 2);
    }

    #[test]
    fn three_endpoints_pick_their_peer() {
        let endpoints = FakeChannel::endpoints(SMALL, 3);
        let ponger = endpoints[2].clone();
        let ponging = thread::spawn(move || pong(&ponger, 0, 2));
        let peer = choose_peer(0, 3, Some(2)).expect("peer 2");
        ping(&endpoints[0], peer, 2, || None).expect("ping");
        ponging.join().expect("pong thread").expect("pong");
        // Lane 2 has a header but no data area.
        assert!(matches!(
            data_area(SMALL, 2),
            Err(TransferError::NoDataArea { lane: 2, .. })
        ));
        let data = pattern(200);
        let (_, output) = transfer(&endpoints, 1, 2, &data);
        assert_eq!(output, data);
    }

    #[test]
    fn peers_and_areas() {
        assert_eq!(choose_peer(0, 2, None).expect("default"), 1);
        assert_eq!(choose_peer(1, 2, None).expect("default"), 0);
        assert_eq!(choose_peer(2, 4, None).expect("default"), 0);
        assert!(matches!(
            choose_peer(0, 1, None),
            Err(TransferError::NoPeer)
        ));
        assert!(matches!(
            choose_peer(1, 2, Some(1)),
            Err(TransferError::BadPeer {
                peer: 1,
                own: 1,
                endpoints: 2
            })
        ));
        assert!(matches!(
            choose_peer(1, 2, Some(2)),
            Err(TransferError::BadPeer { .. })
        ));
        assert_eq!(data_area(1 << 20, 0).expect("lane 0"), (4096, 522_240));
        assert_eq!(
            data_area(1 << 20, 1).expect("lane 1"),
            (4096 + 522_240, 522_240)
        );
        assert!(data_area(4096, 0).is_err());
        assert!(data_area(4096 + 8, 0).is_err());
        assert_eq!(data_area(4096 + 16, 1).expect("tiny"), (4096 + 8, 8));
        assert_eq!(
            TransferError::NoDataArea {
                lane: 2,
                size: 8192
            }
            .to_string(),
            "endpoint 2 has no data area in a 8192-byte channel (only endpoints 0 and 1 can send)"
        );
    }

    #[test]
    fn words_pack_and_unpack() {
        let endpoints = FakeChannel::endpoints(SMALL, 2);
        store_bytes(&endpoints[0], 4096, b"0123456789");
        assert_eq!(endpoints[0].load(4096), u64::from_le_bytes(*b"01234567"));
        assert_eq!(
            endpoints[0].load(4104),
            u64::from_le_bytes(*b"89\0\0\0\0\0\0")
        );
        assert_eq!(load_bytes(&endpoints[1], 4096, 10), b"0123456789");
        assert_eq!(load_bytes(&endpoints[1], 4096, 0), b"");
        assert_eq!(
            summary_line(
                "sent",
                Summary {
                    bytes: 5,
                    checksum: 0xab
                }
            ),
            "sent 5 bytes checksum 0x00000000000000ab"
        );
    }
}
