//! A sender and a receiver driven back to back in virtual time: signals go straight from one to
//! the other (through a "hub" that may tamper), WebRTC is a pair of booleans, and a "link" carries
//! the frames (and may lose them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use super::*;

const SENDER: &str = "ann-peer";
const RECEIVER: &str = "ben-peer";

fn image(len: usize) -> Image {
    Image {
        name: "sunset.jpg".into(),
        mime: "image/jpeg".into(),
        bytes: (0..len).map(|i| (i * 7 % 251) as u8).collect(),
    }
}

/// What one side heard, and what it sent that the other did not get.
struct Log<E> {
    events: Vec<E>,
    /// Signals to peers other than the other end (a second receiver).
    stray: Vec<(String, Signal)>,
}

struct Handoff {
    now: Instant,
    sender: Sender,
    receiver: Receiver,
    sent: Log<SenderEvent>,
    got: Log<ReceiverEvent>,
    /// Frames the sender's channel still delivers (the rest are lost); `None`: all.
    deliver: Option<usize>,
    frames_from_sender: usize,
    /// The hub replaces the `pub` of hellos with this key, as an attacking hub would.
    swap_key: Option<String>,
    /// The receiver's driver shows the complete image and calls `viewed()`.
    shows: bool,
    offered: bool,
    answered: bool,
    open: bool,
}

impl Handoff {
    fn new(len: usize) -> Self {
        Self::with(DropSecret::from_bytes([7; 16]), DropSecret::from_bytes([7; 16]), len)
    }

    /// A drop whose receiver holds `receiver_secret` (a wrong link when it differs).
    fn with(secret: DropSecret, receiver_secret: DropSecret, len: usize) -> Self {
        let now = Instant::now();
        let sender = Sender::new(secret, EphemeralKey::from_bytes([1; 32]), image(len), 10, Timing::default()).unwrap();
        let receiver = Receiver::new(
            receiver_secret,
            EphemeralKey::from_bytes([2; 32]),
            "Ben",
            SENDER.into(),
            Timing::default(),
            now,
        );
        Self {
            now,
            sender,
            receiver,
            sent: Log { events: vec![], stray: vec![] },
            got: Log { events: vec![], stray: vec![] },
            deliver: None,
            frames_from_sender: 0,
            swap_key: None,
            shows: true,
            offered: false,
            answered: false,
            open: false,
        }
    }

    fn hub(&self, mut signal: Signal) -> Signal {
        if let (Signal::Hello { public, .. }, Some(key)) = (&mut signal, &self.swap_key) {
            public.clone_from(key);
        }
        signal
    }

    /// Moves everything both sides want to send until neither has anything left.
    fn progress(&mut self) {
        loop {
            let mut moved = false;
            while let Some(output) = self.sender.poll_output() {
                moved = true;
                match output {
                    Output::Signal { to, signal } if to == RECEIVER => {
                        let signal = self.hub(signal);
                        self.receiver.handle_signal(SENDER, signal);
                    }
                    Output::Signal { to, signal } => self.sent.stray.push((to, signal)),
                    Output::Frame(frame) => {
                        self.frames_from_sender += 1;
                        if self.deliver.is_none_or(|n| self.frames_from_sender <= n) && self.open {
                            self.receiver.handle_frame(&frame, self.now);
                        }
                        self.sender.frame_sent(self.now);
                    }
                    Output::Rtc(Rtc::Offer) => {
                        self.offered = true;
                        self.sender.local_description("offer-sdp".into());
                        self.sender.local_candidate(serde_json::json!({"candidate": "s"}));
                    }
                    Output::Rtc(Rtc::ApplyAnswer { answer }) => {
                        assert_eq!(answer, "answer-sdp");
                        self.open = true;
                        self.sender.channel_open(self.now);
                        self.receiver.channel_open(self.now);
                    }
                    Output::Rtc(Rtc::AddCandidates(c)) => assert_eq!(c, [serde_json::json!({"candidate": "r"})]),
                    Output::Rtc(other) => panic!("the sender asked for {other:?}"),
                    Output::Event(event) => self.sent.events.push(event),
                }
            }
            while let Some(output) = self.receiver.poll_output() {
                moved = true;
                match output {
                    Output::Signal { to, signal } => {
                        assert_eq!(to, SENDER);
                        let signal = self.hub(signal);
                        self.sender.handle_signal(RECEIVER, signal);
                    }
                    Output::Frame(frame) => {
                        if self.open {
                            self.sender.handle_frame(&frame, self.now);
                        }
                    }
                    Output::Rtc(Rtc::Answer { offer }) => {
                        assert_eq!(offer, "offer-sdp");
                        self.answered = true;
                        self.receiver.local_candidate(serde_json::json!({"candidate": "r"}));
                        self.receiver.local_description("answer-sdp".into());
                    }
                    Output::Rtc(Rtc::AddCandidates(c)) => assert_eq!(c, [serde_json::json!({"candidate": "s"})]),
                    Output::Rtc(other) => panic!("the receiver asked for {other:?}"),
                    Output::Event(ReceiverEvent::Complete { meta, image }) => {
                        // The driver shows (or saves) it, then says so.
                        self.got.events.push(ReceiverEvent::Complete { meta, image });
                        if self.shows {
                            self.receiver.viewed();
                        }
                    }
                    Output::Event(event) => self.got.events.push(event),
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Lets virtual time pass, firing each side's timer when it is due.
    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        loop {
            let next = [self.sender.poll_timeout(), self.receiver.poll_timeout()].into_iter().flatten().min();
            match next {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    self.sender.handle_timeout(self.now);
                    self.receiver.handle_timeout(self.now);
                    self.progress();
                }
                _ => break,
            }
        }
        self.now = until;
    }

    fn sender_ended(&self) -> Option<&Ended> {
        self.sent.events.iter().find_map(|e| match e {
            SenderEvent::Ended(why) => Some(why),
            _ => None,
        })
    }

    fn receiver_ended(&self) -> Option<&Ended> {
        self.got.events.iter().find_map(|e| match e {
            ReceiverEvent::Ended(why) => Some(why),
            _ => None,
        })
    }

    fn received_image(&self) -> Option<&[u8]> {
        self.got.events.iter().find_map(|e| match e {
            ReceiverEvent::Complete { image, .. } => Some(image.as_slice()),
            _ => None,
        })
    }
}

#[test]
fn ben_receives_ann_s_image_once_and_ann_hears_it_was_viewed() {
    let mut drop = Handoff::new(1_000_000);
    drop.progress();
    assert!(drop.offered && drop.answered && drop.open);
    assert_eq!(drop.received_image(), Some(image(1_000_000).bytes.as_slice()), "the exact bytes");
    assert!(drop.sender.is_finished() && drop.receiver.is_finished());
    assert_eq!((drop.sender.poll_timeout(), drop.receiver.poll_timeout()), (None, None), "no timer left");

    let progress: Vec<u64> = drop
        .sent
        .events
        .iter()
        .filter_map(|e| match e {
            SenderEvent::Progress { received, .. } => Some(*received),
            _ => None,
        })
        .collect();
    assert_eq!(progress.last(), Some(&1_000_000));
    assert!(progress.windows(2).all(|w| w[1] - w[0] >= PROGRESS_EVERY || w[1] == 1_000_000), "{progress:?}");
    assert_eq!(drop.sent.events.first(), Some(&SenderEvent::ReceiverArrived { name: "Ben".into() }));
    assert_eq!(drop.sent.events.last(), Some(&SenderEvent::Viewed));
    let meta = Meta { name: "sunset.jpg".into(), mime: "image/jpeg".into(), size: 1_000_000, seconds: 10, chunks: 17 };
    assert_eq!(drop.got.events.first(), Some(&ReceiverEvent::Receiving { meta }));
    // 1 meta + 17 chunks of at most 60 KiB.
    assert_eq!(drop.frames_from_sender, 18);
}

#[test]
fn a_second_receiver_is_turned_away_and_the_first_still_gets_it() {
    let mut drop = Handoff::new(10_000);
    // The first receiver's hello reaches the sender; the channel is not open yet.
    while let Some(output) = drop.receiver.poll_output() {
        if let Output::Signal { signal, .. } = output {
            drop.sender.handle_signal(RECEIVER, signal);
        }
    }
    let secret = DropSecret::from_bytes([7; 16]);
    let mut eve =
        Receiver::new(secret, EphemeralKey::from_bytes([3; 32]), "Eve", SENDER.into(), Timing::default(), drop.now);
    let Some(Output::Signal { signal: hello, .. }) = eve.poll_output() else { panic!("Eve says hello") };
    drop.sender.handle_signal("eve-peer", hello);
    drop.progress();
    let refused = drop.sent.stray.iter().find(|(to, _)| to == "eve-peer").map(|(_, s)| s.clone()).unwrap();
    assert_eq!(refused, Signal::Refused { reason: "taken".into() });
    eve.handle_signal(SENDER, refused);
    assert_eq!(eve.poll_output(), Some(Output::Event(ReceiverEvent::Ended(Ended::Taken))));
    assert!(eve.is_finished());
    assert_eq!(drop.received_image().map(<[u8]>::len), Some(10_000));
    assert_eq!(drop.sent.events.last(), Some(&SenderEvent::Viewed));
}

#[test]
fn a_wrong_link_fails_the_mac_and_nothing_is_sent() {
    let mut drop = Handoff::with(DropSecret::from_bytes([7; 16]), DropSecret::from_bytes([8; 16]), 10_000);
    drop.progress();
    assert_eq!(drop.sender_ended(), Some(&Ended::NotVerified), "the sender refused the receiver's key");
    assert_eq!(drop.receiver_ended(), Some(&Ended::RefusedBadMac), "and told the receiver");
    assert!(!drop.offered && drop.frames_from_sender == 0, "no connection, no frame");
}

#[test]
fn a_hub_that_swaps_the_keys_is_caught_by_the_sender() {
    let mut drop = Handoff::new(10_000);
    drop.swap_key = Some(EphemeralKey::from_bytes([9; 32]).public_b64());
    drop.progress();
    assert_eq!(drop.sender_ended(), Some(&Ended::NotVerified));
    assert_eq!(drop.receiver_ended(), Some(&Ended::RefusedBadMac));
    assert_eq!(drop.frames_from_sender, 0);
}

#[test]
fn a_swap_on_the_way_to_the_receiver_only_is_caught_by_the_receiver() {
    let mut drop = Handoff::new(10_000);
    // The receiver's hello reaches the sender untouched; the sender's hello is rewritten.
    while let Some(Output::Signal { signal, .. }) = drop.receiver.poll_output() {
        drop.sender.handle_signal(RECEIVER, signal);
    }
    drop.swap_key = Some(EphemeralKey::from_bytes([9; 32]).public_b64());
    drop.progress();
    assert_eq!(drop.receiver_ended(), Some(&Ended::NotVerified));
    assert_eq!(drop.sender_ended(), Some(&Ended::RefusedBadMac));
    assert!(drop.received_image().is_none());
}

#[test]
fn a_transfer_that_stops_moving_stalls_on_both_sides_after_15_s() {
    let mut drop = Handoff::new(1_000_000);
    drop.deliver = Some(3); // meta and two chunks, then the path loses everything
    drop.progress();
    assert!(drop.sender_ended().is_none() && drop.receiver_ended().is_none());
    drop.advance(Duration::from_millis(14_999));
    assert!(drop.sender_ended().is_none() && drop.receiver_ended().is_none(), "not yet");
    drop.advance(Duration::from_millis(1));
    let stalled = Ended::Stalled { after: Duration::from_secs(15) };
    assert_eq!(drop.receiver_ended(), Some(&stalled));
    assert_eq!(drop.sender_ended(), Some(&stalled));
    assert!(drop.received_image().is_none());
}

#[test]
fn the_sender_waits_the_view_time_for_viewed_then_gives_up() {
    let mut drop = Handoff::new(10_000);
    drop.shows = false; // the receiver's page hangs on the picture and never says `viewed`
    drop.progress();
    assert!(drop.received_image().is_some());
    drop.advance(Duration::from_secs(10 + 30 - 1));
    assert!(drop.sender_ended().is_none(), "the view time and a grace");
    drop.advance(Duration::from_secs(1));
    assert!(matches!(drop.sender_ended(), Some(Ended::Stalled { .. })));
}

#[test]
fn the_receiver_gives_up_when_the_sender_never_answers() {
    let mut drop = Handoff::new(10_000);
    let _hello = drop.receiver.poll_output();
    drop.advance(Duration::from_secs(24));
    assert!(drop.receiver_ended().is_none());
    drop.advance(Duration::from_secs(1));
    assert!(matches!(drop.receiver_ended(), Some(Ended::Stalled { .. })));
}

#[test]
fn the_sender_cancels_before_anyone_came_and_while_the_receiver_has_it() {
    // Before anyone came: nothing to tell.
    let mut alone = Handoff::new(10_000);
    alone.sender.cancel();
    assert_eq!(alone.sender.poll_output(), Some(Output::Event(SenderEvent::Ended(Ended::Cancelled))));
    assert_eq!(alone.sender.poll_output(), None);

    // After the hellos, while the connection is set up: a `cancel` frame, the channel's first.
    let mut early = Handoff::new(10_000);
    while let Some(Output::Signal { signal, .. }) = early.receiver.poll_output() {
        early.sender.handle_signal(RECEIVER, signal);
    }
    early.sender.cancel();
    let outputs: Vec<_> = std::iter::from_fn(|| early.sender.poll_output()).collect();
    assert!(outputs.contains(&Output::Frame(cancel_frame("the sender cancelled"))), "{outputs:?}");
    assert!(early.sender.is_finished());

    // Mid-transfer: a frame, and the receiver ends with the sender's reason.
    let mut drop = Handoff::new(1_000_000);
    drop.deliver = Some(2);
    drop.progress();
    drop.deliver = None;
    drop.sender.cancel();
    drop.progress();
    assert_eq!(drop.sender_ended(), Some(&Ended::Cancelled));
    assert_eq!(drop.receiver_ended(), Some(&Ended::PeerCancelled { reason: Some("the sender cancelled".into()) }));
}

#[test]
fn the_receiver_cancels_and_the_sender_hears_why() {
    let mut drop = Handoff::new(1_000_000);
    drop.deliver = Some(2);
    drop.progress();
    drop.receiver.cancel();
    drop.progress();
    assert_eq!(drop.receiver_ended(), Some(&Ended::Cancelled));
    assert_eq!(drop.sender_ended(), Some(&Ended::PeerCancelled { reason: Some("the receiver cancelled".into()) }));
}

#[test]
fn a_damaged_frame_ends_the_receiver_and_a_late_room_close_does_not() {
    let secret = DropSecret::from_bytes([7; 16]);
    let (s, r) = (EphemeralKey::from_bytes([1; 32]), EphemeralKey::from_bytes([2; 32]));
    let now = Instant::now();
    let mut receiver = Receiver::new(secret.clone(), r, "Ben", SENDER.into(), Timing::default(), now);
    let _hello = receiver.poll_output();
    let (ps, pr) = (s.public_b64(), EphemeralKey::from_bytes([2; 32]).public_b64());
    let mac = secret.hello_mac(Role::Sender, &ps, "", Some(&pr));
    receiver.handle_signal(SENDER, Signal::Hello { role: "sender".into(), public: ps.clone(), name: None, mac });
    receiver.channel_open(now);
    receiver.room_closed();
    assert_eq!(receiver.poll_output(), None, "once the channel is open, the room no longer matters");
    let key = s.session_key(&parse_public(&pr).unwrap(), &secret, &ps, &pr).unwrap();
    let mut meta = Sealer::new(&key)
        .seal(FRAME_META, br#"{"name":"a","type":"image/png","size":5,"seconds":5,"chunks":1}"#)
        .unwrap();
    meta[5] ^= 1;
    receiver.handle_frame(&meta, now);
    assert_eq!(receiver.poll_output(), Some(Output::Event(ReceiverEvent::Ended(DropError::Open.into()))));
}

#[test]
fn a_sender_announcing_something_other_than_an_image_is_refused() {
    let secret = DropSecret::from_bytes([7; 16]);
    let (s, r) = (EphemeralKey::from_bytes([1; 32]), EphemeralKey::from_bytes([2; 32]));
    let now = Instant::now();
    let mut receiver = Receiver::new(secret.clone(), r, "Ben", SENDER.into(), Timing::default(), now);
    let pr = EphemeralKey::from_bytes([2; 32]).public_b64();
    let ps = s.public_b64();
    let mac = secret.hello_mac(Role::Sender, &ps, "", Some(&pr));
    receiver.handle_signal(SENDER, Signal::Hello { role: "sender".into(), public: ps.clone(), name: None, mac });
    receiver.channel_open(now);
    let key = s.session_key(&parse_public(&pr).unwrap(), &secret, &ps, &pr).unwrap();
    let meta = Sealer::new(&key)
        .seal(FRAME_META, br#"{"name":"x.sh","type":"text/x-sh","size":5,"seconds":5,"chunks":1}"#)
        .unwrap();
    receiver.handle_frame(&meta, now);
    let outputs: Vec<_> = std::iter::from_fn(|| receiver.poll_output()).collect();
    let refused = Ended::Broken(BrokenBy::Announced { size: 5, mime: "text/x-sh".into() });
    assert_eq!(outputs.last(), Some(&Output::Event(ReceiverEvent::Ended(refused))));
}

#[test]
fn the_sender_s_room_expires_and_the_hub_can_go_away() {
    let mut drop = Handoff::new(10_000);
    drop.sender.room_closed("deleted");
    assert_eq!(drop.sender.poll_output(), None, "only expiry ends a waiting drop");
    drop.sender.room_closed("expired");
    assert_eq!(drop.sender.poll_output(), Some(Output::Event(SenderEvent::Ended(Ended::Expired))));
    drop.receiver.hub_lost("reset".into());
    let _hello = drop.receiver.poll_output();
    assert_eq!(
        drop.receiver.poll_output(),
        Some(Output::Event(ReceiverEvent::Ended(Ended::HubLost { reason: "reset".into() })))
    );
}

#[test]
fn images_too_big_or_view_times_out_of_range_are_refused_up_front() {
    let secret = DropSecret::from_bytes([7; 16]);
    let key = || EphemeralKey::from_bytes([1; 32]);
    let huge = Image { bytes: vec![0; MAX_SIZE as usize + 1], ..image(0) };
    assert_eq!(
        Sender::new(secret.clone(), key(), huge, 10, Timing::default()).err(),
        Some(ImageError::TooBig(MAX_SIZE + 1))
    );
    assert_eq!(Sender::new(secret.clone(), key(), image(10), 4, Timing::default()).err(), Some(ImageError::Seconds));
    assert_eq!(Sender::new(secret, key(), image(10), 61, Timing::default()).err(), Some(ImageError::Seconds));
}
