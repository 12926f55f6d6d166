//! Matching waiting calls with ready agents.
//!
//! Two entry points keep the router work-conserving: when a call becomes waiting (or
//! its eligible set widens) it looks for the best ready agent of its queue
//! ([`Router::try_match_call`]); when an agent becomes ready it looks for the first
//! call in the global order among the queues it serves ([`Router::try_match_agent`]).
//! Because every transition that creates a (ready agent, waiting call) pair runs one of
//! them, no such eligible pair survives a `handle`.
//!
//! Each queue keeps its ready agents in a sorted set whose key is the queue's strategy
//! (see [`crate::strategy`]), so the common case is O(log n): take the first element.

use crate::agent::{Agent, AgentState};
use crate::call::{Call, CallState, WaitKey};
use crate::model::{AgentId, CallId, MAX_PROFICIENCY, Millis, SkillReq, Strategy};
use crate::router::Router;
use crate::strategy::ready_key;

/// Does `agent` have every required skill at `max(requirement, step minimum)`?
pub(crate) fn meets(agent: &Agent, skills: &[SkillReq], step_min: u8) -> bool {
    if skills.is_empty() {
        // No skill requirement: everyone serving the queue counts as fully proficient.
        return step_min <= MAX_PROFICIENCY;
    }
    skills.iter().all(|r| agent.proficiency(r.skill.0) >= r.min_proficiency.max(step_min).max(1))
}

/// May `agent` take `call` right now (ignoring whether the agent is ready)?
pub(crate) fn eligible(agent: &Agent, call: &Call) -> bool {
    if !agent.serves(call.queue) {
        return false;
    }
    if call.preferred_active && call.preferred != Some(agent.cfg.id) {
        return false;
    }
    meets(agent, &call.skills, call.step_min)
}

impl Router {
    pub(crate) fn index_ready(&mut self, aid: AgentId) {
        let Some(agent) = self.agents.get_mut(aid.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        agent.ready_keys.clear();
        for &qid in &agent.queues {
            let Some(q) = self.queues.get_mut(qid.0 as usize).and_then(Option::as_mut) else {
                continue;
            };
            let key = ready_key(q.cfg.strategy, agent, &q.cfg.skills);
            q.ready.insert(key);
            agent.ready_keys.push((qid, key));
        }
    }

    pub(crate) fn unindex_ready(&mut self, aid: AgentId) {
        let Some(agent) = self.agents.get_mut(aid.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        for (qid, key) in agent.ready_keys.drain(..) {
            if let Some(q) = self.queues.get_mut(qid.0 as usize).and_then(Option::as_mut) {
                q.ready.remove(&key);
            }
        }
    }

    /// The ready agent the queue's strategy picks for `cid`, if any is eligible.
    pub(crate) fn best_agent_for(&mut self, cid: CallId) -> Option<AgentId> {
        let call = self.calls.get(&cid)?;
        let q = self.queue(call.queue)?;
        if let Some(p) = call.preferred {
            if self.agent(p).is_some_and(|a| a.state == AgentState::Ready && eligible(a, call)) {
                return Some(p);
            }
            if call.preferred_active {
                return None;
            }
        }
        let ok = |k: &(u64, u64, u32)| self.agent(AgentId(k.2)).is_some_and(|a| eligible(a, call));
        match q.cfg.strategy {
            Strategy::RoundRobin => {
                let start = (q.rr_last.0, 0, q.rr_last.1.saturating_add(1));
                q.ready
                    .range(start..)
                    .chain(q.ready.range(..start))
                    .find(|k| ok(k))
                    .map(|k| AgentId(k.2))
            }
            Strategy::Random => {
                let candidates: Vec<u32> = q.ready.iter().filter(|k| ok(k)).map(|k| k.2).collect();
                if candidates.is_empty() {
                    return None;
                }
                let i = rand::Rng::random_range(&mut self.rng, 0..candidates.len());
                candidates.get(i).map(|a| AgentId(*a))
            }
            _ => q.ready.iter().find(|k| ok(k)).map(|k| AgentId(k.2)),
        }
    }

    /// Serve a waiting call now if a ready eligible agent exists.
    pub(crate) fn try_match_call(&mut self, cid: CallId, now: Millis) {
        if !self.calls.get(&cid).is_some_and(|c| c.state == CallState::Waiting) {
            return;
        }
        if let Some(aid) = self.best_agent_for(cid) {
            self.offer(cid, aid, now);
        }
    }

    /// The first call in the global order, among the queues `aid` serves, that `aid`
    /// may take.
    pub(crate) fn best_call_for(&self, aid: AgentId) -> Option<CallId> {
        let agent = self.agent(aid)?;
        let mut best: Option<(WaitKey, CallId)> = None;
        for &qid in &agent.queues {
            let Some(q) = self.queue(qid) else { continue };
            for (key, cid) in &q.waiting {
                if best.is_some_and(|(b, _)| *key >= b) {
                    break; // nothing further in this queue can beat the best so far
                }
                if self.calls.get(cid).is_some_and(|c| eligible(agent, c)) {
                    best = Some((*key, *cid));
                    break;
                }
            }
        }
        best.map(|(_, c)| c)
    }

    /// Give a ready agent the best call it may take, if any.
    pub(crate) fn try_match_agent(&mut self, aid: AgentId, now: Millis) {
        if !self.agent(aid).is_some_and(|a| a.state == AgentState::Ready) {
            return;
        }
        if let Some(cid) = self.best_call_for(aid) {
            self.offer(cid, aid, now);
        }
    }

    /// Check the router's invariants; `Err` describes the first violation. Cost is
    /// O(waiting calls × ready agents of their queue): meant for tests and audits.
    pub fn check_invariants(&self) -> Result<(), String> {
        for agent in self.agents.iter().flatten() {
            let id = agent.cfg.id;
            let held = match agent.state {
                AgentState::Offered(c) | AgentState::Dialing(c) | AgentState::Talking(c) => Some(c),
                _ => None,
            };
            if let Some(c) = held {
                let call = self
                    .calls
                    .get(&c)
                    .ok_or(format!("agent {} holds unknown call {}", id.0, c.0))?;
                let agrees = match (agent.state.clone(), call.state) {
                    (AgentState::Offered(_), CallState::Offered { agent: a, .. }) => a == id,
                    (AgentState::Dialing(_), CallState::Dialing { agent: a, .. }) => a == id,
                    (AgentState::Talking(_), CallState::Talking { agent: a, .. }) => a == id,
                    _ => false,
                };
                if !agrees {
                    return Err(format!("agent {} and call {} disagree", id.0, c.0));
                }
            }
            let ready = agent.state == AgentState::Ready;
            for &qid in &agent.queues {
                let Some(q) = self.queue(qid) else { continue };
                let indexed = q.ready.iter().any(|k| k.2 == id.0);
                if indexed != ready {
                    return Err(format!(
                        "agent {} ready={ready} but indexed={indexed} in queue {}",
                        id.0, qid.0
                    ));
                }
            }
        }
        for (cid, call) in &self.calls {
            let holder = match call.state {
                CallState::Offered { agent, .. }
                | CallState::Dialing { agent, .. }
                | CallState::Talking { agent, .. } => Some(agent),
                _ => None,
            };
            if let Some(a) = holder {
                let ok = self.agent(a).is_some_and(|ag| match ag.state {
                    AgentState::Offered(c) | AgentState::Dialing(c) | AgentState::Talking(c) => {
                        c == *cid
                    }
                    _ => false,
                });
                if !ok {
                    return Err(format!(
                        "call {} held by agent {} who does not hold it",
                        cid.0, a.0
                    ));
                }
            }
            let Some(q) = self.queue(call.queue) else {
                return Err(format!("call {} in unknown queue", cid.0));
            };
            let in_set = q.waiting.get(&call.key) == Some(cid);
            if in_set != (call.state == CallState::Waiting) {
                return Err(format!(
                    "call {} waiting-set membership disagrees with its state",
                    cid.0
                ));
            }
            if call.state == CallState::Waiting {
                for k in &q.ready {
                    if let Some(a) = self.agent(AgentId(k.2))
                        && eligible(a, call)
                    {
                        return Err(format!(
                            "work conservation: call {} waits while agent {} is ready",
                            cid.0, k.2
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
