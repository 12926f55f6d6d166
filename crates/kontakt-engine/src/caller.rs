//! Who is calling: the caller's number from the SIP identity headers FreeSWITCH passes as
//! channel variables, normalised to E.164; and what is going on at their address (the
//! outages in force there), for the screen-pop.
//!
//! Carriers fill these very differently: a network-asserted identity
//! (`P-Asserted-Identity`) is preferred over `From`, which the caller's equipment controls;
//! `From` is preferred over the bare caller-id number. `Privacy: id` or an anonymous `From`
//! makes the presentation `withheld`; the number is still kept when the network asserted
//! it (the law lets the center call back), but pages show it only to whoever handles the
//! call.

use kontakt_appeals::phone::{is_withheld, phone_from_caller_id};
use rsip::headers::{ToTypedHeader, UntypedHeader};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presentation {
    /// A number we could normalise.
    Number,
    /// The caller asked for privacy (`Privacy: id`, `anonymous` in `From`).
    Withheld,
    /// No number at all.
    Anonymous,
    /// Something was sent, but it is not a phone number (a SIP user name, garbage).
    Unparsed,
}

impl Presentation {
    pub fn as_str(self) -> &'static str {
        match self {
            Presentation::Number => "number",
            Presentation::Withheld => "withheld",
            Presentation::Anonymous => "anonymous",
            Presentation::Unparsed => "unparsed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallerIdentity {
    /// E.164, when any source gave a usable number.
    pub e164: Option<String>,
    /// The source the number (or its absence) was read from, verbatim.
    pub raw: String,
    pub presentation: Presentation,
    pub display_name: Option<String>,
}

/// The SIP variables FreeSWITCH sets on an inbound channel that carry the caller's identity.
pub const IDENTITY_VARIABLES: [&str; 4] =
    ["sip_P-Asserted-Identity", "sip_full_from", "sip_Privacy", "sip_from_user"];

/// Reads the caller's identity. `var` looks up a channel variable; `caller_id_number` is
/// the channel's `Caller-Caller-ID-Number`.
pub fn identify<'a>(
    var: impl Fn(&str) -> Option<&'a str>,
    caller_id_number: Option<&'a str>,
) -> CallerIdentity {
    let privacy = var("sip_Privacy").is_some_and(|p| {
        p.split([';', ',']).any(|t| matches!(t.trim().to_ascii_lowercase().as_str(), "id" | "user"))
    });
    let mut sources: Vec<(&str, Option<String>, Option<String>)> = Vec::new();
    for name in ["sip_P-Asserted-Identity", "sip_full_from"] {
        if let Some(v) = var(name).filter(|v| !v.trim().is_empty()) {
            let (user, display) = name_addr(v);
            sources.push((v, user, display));
        }
    }
    for v in [var("sip_from_user"), caller_id_number].into_iter().flatten() {
        if !v.trim().is_empty() {
            sources.push((v, Some(v.to_owned()), None));
        }
    }
    let display_name = sources.iter().find_map(|s| s.2.clone());
    let mut withheld = privacy;
    for (raw, user, _) in &sources {
        let Some(user) = user else { continue };
        if is_withheld(user) {
            withheld = true;
            continue;
        }
        if let Some(phone) = phone_from_caller_id(user) {
            return CallerIdentity {
                e164: Some(phone.into_string()),
                raw: (*raw).to_owned(),
                presentation: if withheld { Presentation::Withheld } else { Presentation::Number },
                display_name,
            };
        }
    }
    let raw = sources.first().map(|s| s.0.to_owned()).unwrap_or_default();
    let presentation = if withheld {
        Presentation::Withheld
    } else if sources.is_empty() || sources.iter().all(|s| is_withheld(s.0)) {
        Presentation::Anonymous
    } else {
        Presentation::Unparsed
    };
    CallerIdentity { e164: None, raw, presentation, display_name }
}

/// The user part and display name of a SIP name-addr (`"Name" <sip:user@host;user=phone>`,
/// `<tel:+380…>`), via rsip; a `tel:` URI or anything rsip refuses falls back to the text.
fn name_addr(value: &str) -> (Option<String>, Option<String>) {
    if let Ok(typed) = rsip::headers::From::new(value).typed() {
        let display = typed
            .display_name
            .map(|d| d.trim().trim_matches('"').to_owned())
            .filter(|d| !d.is_empty());
        if let Some(user) = typed.uri.user() {
            return (Some(user.to_owned()), display);
        }
        return (None, display);
    }
    let inner = value
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map_or(value, |(uri, _)| uri)
        .trim();
    (Some(inner.to_owned()), None)
}

/// Most outages one screen-pop lists: beyond a handful an operator reads none of them.
const MAX_POP_OUTAGES: i64 = 20;

/// The outages in force at `address` at `now`, newest start first: those naming its building
/// and those covering its whole street. It runs in the task that looks up the caller's context
/// (the engine never waits on the database); a failed lookup leaves the list empty and is
/// logged, because the call must reach an operator with or without it.
pub(crate) async fn outages_at(
    store: &dyn kontakt_store::Store,
    address: &kontakt_appeals::Address,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<crate::feed::OutageNotice> {
    let filter = kontakt_store::OutageFilter {
        active_at: Some(now),
        street_key: Some(kontakt_appeals::address::street_key(&address.street)),
        building_key: Some(address.building_key()),
        executor_id: None,
        limit: MAX_POP_OUTAGES,
    };
    match store.list_outages(&filter).await {
        Ok(outages) => outages
            .into_iter()
            .map(|o| crate::feed::OutageNotice {
                id: o.id,
                kind: o.kind,
                class: o.class,
                nature: o.nature,
                started_at: o.started_at,
                planned_end_at: o.planned_end_at,
                public_message: o.public_message,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "outages at the caller's address could not be read");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn id(vars: &[(&str, &str)], cid: Option<&str>) -> CallerIdentity {
        let m: HashMap<&str, &str> = vars.iter().copied().collect();
        identify(|n| m.get(n).copied(), cid)
    }

    #[test]
    fn asserted_identity_wins_over_from_and_caller_id() {
        let c = id(
            &[
                ("sip_P-Asserted-Identity", "\"Іван\" <sip:+380501234567@10.0.0.1;user=phone>"),
                ("sip_full_from", "<sip:0671112233@carrier.example>;tag=abc"),
            ],
            Some("0671112233"),
        );
        assert_eq!(c.e164.as_deref(), Some("+380501234567"));
        assert_eq!(c.presentation, Presentation::Number);
        assert_eq!(c.display_name.as_deref(), Some("Іван"));
    }

    #[test]
    fn local_forms_from_the_carrier_are_normalised() {
        let c = id(&[("sip_full_from", "<sip:0617871580@pbx>;tag=1")], None);
        assert_eq!(c.e164.as_deref(), Some("+380617871580"));
        let c = id(&[("sip_P-Asserted-Identity", "<tel:+380631234567>")], None);
        assert_eq!(c.e164.as_deref(), Some("+380631234567"));
        let c = id(&[], Some("80501234567"));
        assert_eq!(c.e164.as_deref(), Some("+380501234567"));
    }

    #[test]
    fn privacy_keeps_an_asserted_number_but_marks_it_withheld() {
        let c = id(
            &[
                ("sip_Privacy", "id"),
                ("sip_P-Asserted-Identity", "<sip:+380501234567@10.0.0.1>"),
                ("sip_full_from", "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=x"),
            ],
            Some("anonymous"),
        );
        assert_eq!(c.e164.as_deref(), Some("+380501234567"));
        assert_eq!(c.presentation, Presentation::Withheld);
    }

    #[test]
    fn withheld_anonymous_and_unparsed_are_told_apart() {
        let c = id(&[("sip_full_from", "<sip:anonymous@anonymous.invalid>;tag=x")], None);
        assert_eq!((c.e164, c.presentation), (None, Presentation::Withheld));
        let c = id(&[], None);
        assert_eq!((c.e164, c.presentation), (None, Presentation::Anonymous));
        let c = id(&[("sip_full_from", "<sip:reception@office.example>")], Some("reception"));
        assert_eq!((c.e164.clone(), c.presentation), (None, Presentation::Unparsed));
        assert!(c.raw.contains("reception"));
    }
}
