//! Agent-selection strategies expressed as sort keys of a queue's ready set.
//!
//! A key is fixed while the agent is ready (everything it depends on changes only
//! when the agent is busy), so the sorted set never needs re-sorting: the strategy's
//! choice is the first eligible element. Round-robin starts after the last position
//! offered; random picks uniformly among eligible agents with the router's seeded RNG.

use crate::agent::Agent;
use crate::model::{MAX_PROFICIENCY, SkillReq, Strategy};

/// `(primary, secondary, agent id)`; smaller is preferred.
pub(crate) fn ready_key(
    strategy: Strategy,
    agent: &Agent,
    queue_skills: &[SkillReq],
) -> (u64, u64, u32) {
    let id = agent.cfg.id.0;
    let idle = agent.idle_since.0;
    match strategy {
        Strategy::LongestIdle => (idle, 0, id),
        Strategy::RoundRobin | Strategy::TopDown => (u64::from(agent.cfg.position), 0, id),
        Strategy::LeastTalkTime => (agent.talk_ms, idle, id),
        Strategy::FewestCalls => (agent.calls, idle, id),
        Strategy::Random => (0, 0, id),
        Strategy::SkillsBestProficiency => {
            let prof = queue_skills
                .iter()
                .map(|r| agent.proficiency(r.skill.0))
                .min()
                .unwrap_or(MAX_PROFICIENCY);
            (u64::from(MAX_PROFICIENCY.saturating_sub(prof)), idle, id)
        }
    }
}
