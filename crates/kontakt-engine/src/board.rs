//! What the wall boards were last told about each live call and agent.
//!
//! A board starts from a full snapshot and then applies messages that each set the whole
//! view of one call or agent. The engine publishes a view where it changes it; this mirror
//! drops a publication that repeats the last one, and at every stats tick the engine passes
//! every current view through it again, so a change that some code path forgot to publish
//! reaches the boards at most one tick late instead of never. That second look is what lets
//! the boards do without a periodic full snapshot, which sent every live call to every
//! board each second (megabytes a second under a backlog of thousands of calls).

use std::collections::{HashMap, HashSet};

use kontakt_store::Id;

use crate::feed::{AgentView, LiveCallView, SupervisorEvent};

#[derive(Debug, Default)]
pub(crate) struct BoardMirror {
    calls: HashMap<String, LiveCallView>,
    agents: HashMap<Id, AgentView>,
}

impl BoardMirror {
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
        SupervisorEvent::CallGone { call: uuid.to_owned() }
    }

    /// The second look: every current view, compared with what the boards were told.
    /// Returns the messages that bring them up to date, including the departure of calls the
    /// mirror still holds but the engine no longer has.
    pub(crate) fn sweep(
        &mut self,
        calls: impl IntoIterator<Item = LiveCallView>,
        agents: impl IntoIterator<Item = AgentView>,
    ) -> Vec<SupervisorEvent> {
        let mut out = Vec::new();
        let mut live = HashSet::new();
        for view in calls {
            live.insert(view.call.clone());
            out.extend(self.call(view));
        }
        let gone: Vec<String> = self.calls.keys().filter(|k| !live.contains(*k)).cloned().collect();
        for uuid in gone {
            out.push(self.call_gone(&uuid));
        }
        for view in agents {
            out.extend(self.agent(view));
        }
        out
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
    fn the_sweep_tells_what_was_not_published_and_what_vanished() {
        let mut m = BoardMirror::default();
        let (a, b) = (call("a", 0), call("b", 0));
        m.call(a.clone());
        m.call(b.clone());
        m.agent(agent(1, "ready"));
        // `a` changed without a publication, `b` vanished without one, `c` appeared.
        let a2 = LiveCallView { queue: Some("emergency".into()), ..a };
        let c = call("c", 3);
        let out = m.sweep(vec![a2.clone(), c.clone()], vec![agent(1, "ready")]);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out.contains(&SupervisorEvent::Call(a2.clone())));
        assert!(out.contains(&SupervisorEvent::Call(c.clone())));
        assert!(out.contains(&SupervisorEvent::CallGone { call: "b".into() }));
        // Nothing changed since: the next sweep says nothing.
        assert!(m.sweep(vec![a2, c], vec![agent(1, "ready")]).is_empty());
    }

    #[test]
    fn a_departure_is_told_even_for_a_call_never_published() {
        let mut m = BoardMirror::default();
        assert_eq!(m.call_gone("x"), SupervisorEvent::CallGone { call: "x".into() });
        assert!(m.sweep(Vec::new(), Vec::new()).is_empty());
    }
}
