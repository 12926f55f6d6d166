//! What the wall boards were last told about each live call and agent.
//!
//! A board starts from a full snapshot and then applies messages that each set the whole
//! view of one call or agent. The engine marks a call or agent changed where it changes it,
//! and at the end of the event it was handling sends one message for each one marked (an
//! offer changes an agent's state and call, and its call's phase and operator, in one turn).
//! This mirror drops a message that repeats the last one. At every stats tick the engine
//! compares every live call and agent with it again (`Engine::sweep_board`), so a change that
//! some code path forgot to mark reaches the boards at most one tick late instead of never,
//! and a call that vanished without its `call_gone` gets one. That second look is what lets
//! the boards do without a periodic full snapshot, which sent every live call to every board
//! each second (megabytes a second under a backlog of thousands of calls).

use std::collections::{HashMap, HashSet};

use kontakt_acd::AgentId;
use kontakt_store::Id;

use crate::feed::{AgentView, LiveCallView, SupervisorEvent};

#[derive(Debug, Default)]
pub(crate) struct BoardMirror {
    calls: HashMap<String, LiveCallView>,
    agents: HashMap<Id, AgentView>,
    /// Marked changed during the current event, told at its end.
    changed_calls: HashSet<String>,
    changed_agents: HashSet<AgentId>,
}

impl BoardMirror {
    pub(crate) fn call_changed(&mut self, uuid: &str) {
        if !self.changed_calls.contains(uuid) {
            self.changed_calls.insert(uuid.to_owned());
        }
    }

    pub(crate) fn agent_changed(&mut self, agent: AgentId) {
        self.changed_agents.insert(agent);
    }

    /// What was marked changed since the last call, each once.
    pub(crate) fn take_changed(&mut self) -> (Vec<String>, Vec<AgentId>) {
        (self.changed_calls.drain().collect(), self.changed_agents.drain().collect())
    }

    /// The message for this call's view, unless the boards already have exactly it.
    pub(crate) fn call(&mut self, view: LiveCallView) -> Option<SupervisorEvent> {
        if self.calls.get(&view.call) == Some(&view) {
            return None;
        }
        self.calls.insert(view.call.clone(), view.clone());
        Some(SupervisorEvent::Call(view))
    }

    /// The message for this agent's view, unless the boards already have exactly it.
    pub(crate) fn agent(&mut self, view: AgentView) -> Option<SupervisorEvent> {
        if self.agents.get(&view.user_id) == Some(&view) {
            return None;
        }
        self.agents.insert(view.user_id, view.clone());
        Some(SupervisorEvent::Agent(view))
    }

    /// The call left Kontakt. Always told: a board that connected after the call began has
    /// it from its snapshot even if no message about it was ever published.
    pub(crate) fn call_gone(&mut self, uuid: &str) -> SupervisorEvent {
        self.calls.remove(uuid);
        self.changed_calls.remove(uuid);
        SupervisorEvent::CallGone { call: uuid.to_owned() }
    }

    /// What the boards were last told of this call.
    pub(crate) fn told_call(&self, uuid: &str) -> Option<&LiveCallView> {
        self.calls.get(uuid)
    }

    /// The calls the boards hold that are no longer `live`.
    pub(crate) fn vanished(&self, live: impl Fn(&str) -> bool) -> Vec<String> {
        self.calls.keys().filter(|k| !live(k)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{DateTime, Utc};

    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    fn call(uuid: &str, priority: u8) -> LiveCallView {
        LiveCallView {
            call: uuid.into(),
            node: "fs1".into(),
            caller: Some("+380501112233".into()),
            line: Some("15-80".into()),
            phase: "queued".into(),
            queue: Some("general".into()),
            priority,
            agent: None,
            since: t0(),
            started_at: t0(),
        }
    }

    fn agent(id: Id, state: &str) -> AgentView {
        AgentView {
            user_id: id,
            username: format!("op{id}"),
            state: state.into(),
            reason: None,
            since: t0(),
            call: None,
        }
    }

    #[test]
    fn a_view_is_told_once_until_it_changes() {
        let mut m = BoardMirror::default();
        let v = call("u1", 0);
        assert!(matches!(m.call(v.clone()), Some(SupervisorEvent::Call(_))));
        assert_eq!(m.call(v.clone()), None);
        let raised = LiveCallView { priority: 9, ..v };
        assert_eq!(m.call(raised.clone()), Some(SupervisorEvent::Call(raised)));
        let a = agent(7, "ready");
        assert!(m.agent(a.clone()).is_some());
        assert_eq!(m.agent(a.clone()), None);
        assert!(m.agent(AgentView { state: "paused".into(), ..a }).is_some());
    }

    #[test]
    fn the_mirror_knows_what_was_told_and_what_vanished() {
        let mut m = BoardMirror::default();
        let (a, b) = (call("a", 0), call("b", 0));
        m.call(a.clone());
        m.call(b);
        assert_eq!(m.told_call("a"), Some(&a));
        assert_eq!(m.told_call("c"), None);
        assert_eq!(m.vanished(|u| u == "a"), vec!["b".to_owned()]);
        m.call_gone("b");
        assert!(m.vanished(|u| u == "a").is_empty());
    }

    #[test]
    fn changes_are_taken_once_and_a_departure_cancels_its_call_s() {
        let mut m = BoardMirror::default();
        m.call_changed("a");
        m.call_changed("a");
        m.call_changed("b");
        m.agent_changed(AgentId(3));
        m.agent_changed(AgentId(3));
        m.call_gone("b");
        let (calls, agents) = m.take_changed();
        assert_eq!((calls, agents), (vec!["a".to_owned()], vec![AgentId(3)]));
        assert_eq!(m.take_changed(), (Vec::new(), Vec::new()));
    }

    #[test]
    fn a_departure_is_told_even_for_a_call_never_published() {
        let mut m = BoardMirror::default();
        assert_eq!(m.call_gone("x"), SupervisorEvent::CallGone { call: "x".into() });
        assert!(m.vanished(|_| false).is_empty());
    }
}
