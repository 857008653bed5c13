//! Who offers, when two peers both want a connection (glare), as decisions with no I/O and time
//! passed in.
//!
//! The rule, the same on both sides: the node with the lower node id offers at once; the other
//! first waits a moment for that offer (both sync every few seconds), and offers itself only if
//! none came, e.g. when the peer still holds a connection to this node's previous run. So offers
//! rarely cross, and when they do ([`our_offer_wins`]) the lower id's offer wins on both sides.
//!
//! ```text
//! lower id:  OfferTurn::step -> Offer
//! higher id: OfferTurn::step -> Wait(..) … until the peer's connection is open (Use) or the
//!            wait is over (Offer)
//! ```

use std::time::{Duration, Instant};

use p2pos_core::NodeId;

/// How often a waiting higher id looks again for the peer's connection.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// Whether `me` offers at once to `peer` (else it first waits for the peer's offer).
pub(crate) fn offers_first(me: NodeId, peer: NodeId) -> bool {
    me < peer
}

/// When both offered at once, whether this node's offer wins (the other side answers it).
pub(crate) fn our_offer_wins(me: NodeId, peer: NodeId) -> bool {
    me < peer
}

/// What to do next about reaching a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A connection with the peer is open (whoever offered): use it.
    Use,
    /// Offer now.
    Offer,
    /// Look again at this time.
    Wait(Instant),
}

/// One attempt to reach a peer under the offer rule.
#[derive(Debug, Clone)]
pub(crate) struct OfferTurn {
    /// Until when this side waits for the peer's offer (`None`: it offers at once).
    wait_until: Option<Instant>,
}

impl OfferTurn {
    /// Begins at `now`; a higher id waits `wait` for the peer's offer.
    pub(crate) fn new(me: NodeId, peer: NodeId, now: Instant, wait: Duration) -> Self {
        Self { wait_until: (!offers_first(me, peer)).then(|| now + wait) }
    }

    /// The next step at `now`, given whether an open connection with the peer exists.
    pub(crate) fn step(&self, now: Instant, open: bool) -> Step {
        if open {
            return Step::Use;
        }
        match self.wait_until {
            Some(until) if now < until => Step::Wait((now + POLL).min(until)),
            _ => Step::Offer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (NodeId, NodeId) {
        let a = NodeId::from_verifying_key(&ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key());
        let b = NodeId::from_verifying_key(&ed25519_dalek::SigningKey::from_bytes(&[2; 32]).verifying_key());
        if a < b { (a, b) } else { (b, a) }
    }

    #[test]
    fn glare_the_lower_id_offers_at_once_and_wins_a_crossing() {
        let (low, high) = ids();
        let now = Instant::now();
        let turn = OfferTurn::new(low, high, now, Duration::from_secs(3));
        assert_eq!(turn.step(now, false), Step::Offer);
        // Both sides agree whose offer wins when they cross.
        assert!(our_offer_wins(low, high));
        assert!(!our_offer_wins(high, low));
    }

    #[test]
    fn glare_the_higher_id_uses_the_peers_offer_when_it_comes_in_time() {
        let (low, high) = ids();
        let start = Instant::now();
        let turn = OfferTurn::new(high, low, start, Duration::from_secs(3));
        let mut now = start;
        // Nothing yet: it looks again every 100 ms, and never offers.
        for _ in 0..10 {
            match turn.step(now, false) {
                Step::Wait(next) => {
                    assert_eq!(next, now + POLL);
                    now = next;
                }
                other => panic!("expected to wait at {:?}, got {other:?}", now - start),
            }
        }
        // The peer's connection opened at 1 s: use it.
        assert_eq!(turn.step(now, true), Step::Use);
    }

    #[test]
    fn glare_the_higher_id_offers_itself_after_waiting_in_vain() {
        let (low, high) = ids();
        let start = Instant::now();
        let turn = OfferTurn::new(high, low, start, Duration::from_secs(3));
        let mut now = start;
        let mut waits = 0;
        let offered_at = loop {
            match turn.step(now, false) {
                Step::Wait(next) => {
                    assert!(next <= start + Duration::from_secs(3));
                    waits += 1;
                    now = next;
                }
                Step::Offer => break now,
                Step::Use => panic!("nothing was open"),
            }
        };
        assert_eq!(offered_at, start + Duration::from_secs(3));
        assert_eq!(waits, 30);
    }
}
