//! A special contact's recovery (`docs/PROTOCOL.md`, "Chat", rendezvous), sans-IO: the four
//! states (connected, reconnecting through `rv:`, recovering from a squatter, announcing a new
//! address), which `rv:` names to be in at a given time (the current 10-minute slot and both
//! neighbours, for clock skew), and when to ask the person to pause a contact unseen for 30 days.
//! The driver joins and leaves the names it is told to, calls the contact where it finds it
//! there, and reports back with `connected`/`connection_lost`/`squatter_seen`/`address_changed`.

use std::collections::{HashSet, VecDeque};

use super::crypto::{ContactSecret, SLOT_MS, rv_name, slot_of};

/// A contact unseen this long prompts the person to pause its rendezvous (30 days).
pub const PAUSE_AFTER_MS: u64 = 30 * 24 * 3600 * 1000;
/// Announcing a new address falls back to rendezvous if the contact is not reached in this long.
pub const ANNOUNCE_MS: u64 = 30_000;

/// The `rv:` names to be in at `unix_ms`: the current slot's, then the previous and the next.
pub fn rv_names_at(secret: &ContactSecret, unix_ms: u64) -> [String; 3] {
    let slot = slot_of(unix_ms);
    [rv_name(secret, slot), rv_name(secret, slot.saturating_sub(1)), rv_name(secret, slot + 1)]
}

/// A special contact's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RvState {
    /// A proven session with the contact is open.
    Connected,
    /// The usual path failed: meeting through the `rv:` names.
    Reconnecting,
    /// A squatter answered at the contact's address: it is blacklisted, and the contact is met
    /// through the `rv:` names.
    Recovering,
    /// This side's address changed: it calls the contact (online contacts hear the new address).
    Announcing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RvEvent {
    State(RvState),
    /// The contact has not been seen for 30 days: ask the person whether to pause its rendezvous.
    PausePrompt,
}

/// What the rendezvous machine asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RvOutput {
    /// Join this `rv:` name on the hub (with a beacon token).
    Join(String),
    Leave(String),
    /// Never connect to this hub peer id or address again for this contact.
    Blacklist(String),
    /// Call the contact by identity to tell it this side's new address.
    Announce,
    Event(RvEvent),
}

/// One special contact's rendezvous.
pub struct Rendezvous {
    secret: ContactSecret,
    state: RvState,
    joined: Vec<String>,
    blacklist: HashSet<String>,
    last_seen: u64,
    prompted: bool,
    announce_until: Option<u64>,
    outputs: VecDeque<RvOutput>,
}

impl std::fmt::Debug for Rendezvous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendezvous")
            .field("state", &self.state)
            .field("joined", &self.joined)
            .field("last_seen", &self.last_seen)
            .finish_non_exhaustive()
    }
}

impl Rendezvous {
    /// A special contact not (yet) connected: it starts reconnecting through rendezvous.
    pub fn new(secret: ContactSecret, last_seen: u64, now: u64) -> Self {
        let mut rv = Self {
            secret,
            state: RvState::Reconnecting,
            joined: Vec::new(),
            blacklist: HashSet::new(),
            last_seen,
            prompted: false,
            announce_until: None,
            outputs: VecDeque::new(),
        };
        rv.sync_names(now);
        rv.check_unseen(now);
        rv
    }

    pub fn state(&self) -> RvState {
        self.state
    }

    /// The `rv:` names this side is in.
    pub fn joined(&self) -> &[String] {
        &self.joined
    }

    pub fn is_blacklisted(&self, peer: &str) -> bool {
        self.blacklist.contains(peer)
    }

    /// A proven session with the contact opened (wherever it was found).
    pub fn connected(&mut self, now: u64) {
        self.last_seen = now;
        self.prompted = false;
        self.announce_until = None;
        self.set(RvState::Connected, now);
    }

    /// The session with the contact is gone.
    pub fn connection_lost(&mut self, now: u64) {
        if matches!(self.state, RvState::Connected | RvState::Announcing) {
            self.announce_until = None;
            self.set(RvState::Reconnecting, now);
        }
    }

    /// The party at the contact's address (`peer`: its hub peer id or address) failed the proof.
    pub fn squatter_seen(&mut self, peer: &str, now: u64) {
        if self.blacklist.insert(peer.to_string()) {
            self.outputs.push_back(RvOutput::Blacklist(peer.to_string()));
        }
        self.announce_until = None;
        self.set(RvState::Recovering, now);
    }

    /// This side's address changed while connected: announce it by calling the contact.
    pub fn address_changed(&mut self, now: u64) {
        if self.state == RvState::Connected {
            self.announce_until = Some(now + ANNOUNCE_MS);
            self.outputs.push_back(RvOutput::Announce);
            self.set(RvState::Announcing, now);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due: the next slot boundary while in
    /// rendezvous, the end of an announcement, the 30-day prompt.
    pub fn poll_timeout(&self, now: u64) -> Option<u64> {
        let boundary = self.in_rv().then(|| (slot_of(now) + 1) * SLOT_MS);
        let prompt = (!self.prompted).then(|| self.last_seen.saturating_add(PAUSE_AFTER_MS));
        [boundary, self.announce_until, prompt].into_iter().flatten().min()
    }

    pub fn handle_timeout(&mut self, now: u64) {
        if self.announce_until.is_some_and(|at| now >= at) {
            self.announce_until = None;
            self.set(RvState::Reconnecting, now);
        }
        self.sync_names(now);
        self.check_unseen(now);
    }

    pub fn poll_output(&mut self) -> Option<RvOutput> {
        self.outputs.pop_front()
    }

    fn in_rv(&self) -> bool {
        matches!(self.state, RvState::Reconnecting | RvState::Recovering)
    }

    fn set(&mut self, state: RvState, now: u64) {
        if self.state != state {
            self.state = state;
            self.outputs.push_back(RvOutput::Event(RvEvent::State(state)));
        }
        self.sync_names(now);
    }

    /// Joins the names of `now` and leaves the others (all of them outside rendezvous).
    fn sync_names(&mut self, now: u64) {
        let wanted: Vec<String> = if self.in_rv() { rv_names_at(&self.secret, now).to_vec() } else { Vec::new() };
        let (keep, leave): (Vec<String>, Vec<String>) = self.joined.drain(..).partition(|n| wanted.contains(n));
        self.outputs.extend(leave.into_iter().map(RvOutput::Leave));
        self.joined = keep;
        for name in wanted {
            if !self.joined.contains(&name) {
                self.outputs.push_back(RvOutput::Join(name.clone()));
                self.joined.push(name);
            }
        }
    }

    fn check_unseen(&mut self, now: u64) {
        if !self.prompted && now >= self.last_seen.saturating_add(PAUSE_AFTER_MS) {
            self.prompted = true;
            self.outputs.push_back(RvOutput::Event(RvEvent::PausePrompt));
        }
    }
}
