//! One task per call on the outbound socket: make the record durable, run the menu, keep
//! the caller company while they wait, and report the channel's events to the engine.
//!
//! The task owns the call's socket and nothing the router decides; it learns what to do
//! next from [`CallCmd`]s and tells the engine what happened as events. Prompts are played
//! one application at a time, and an announcement is one `file_string://` playback, so
//! that the moment an operator is bridged (`uuid_bridge` breaks the running playback)
//! nothing queued behind it can play over the conversation.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::Utc;
use kontakt_store::{AppealFilter, ApplicantQuery, CallKey, CallOp, NewCallRecord, Store};
use kontakt_switch::{Call, CallControl};
use tokio::sync::mpsc;

use crate::caller::identify;
use crate::config::{EngineConfig, MenuAction};
use crate::engine::{CallCmd, CallInfo, ChannelEvent, EngineEvent, EngineHandle, IvrOutcome};
use crate::feed::{AppealSummary, CallerContext, KnownApplicant, QuestionSummary};

type Exec = Pin<Box<dyn Future<Output = Result<kontakt_esl::Event, kontakt_switch::Error>> + Send>>;

/// Serves one call FreeSWITCH connected to our outbound socket, until its socket closes.
pub async fn run_call(engine: EngineHandle, mut call: Call) {
    let cfg = engine.config.clone();
    let data = call.channel_data();
    let node = data
        .header("FreeSWITCH-Switchname")
        .or_else(|| call.var(kontakt_switch::vars::dialplan::NODE))
        .unwrap_or(&engine.node_name)
        .to_owned();
    let uuid = call.unique_id().to_owned();
    let key = CallKey { node, uuid: uuid.clone() };
    let dialled = call
        .var(kontakt_switch::vars::dialplan::DIALED_NUMBER)
        .or_else(|| data.destination_number())
        .unwrap_or_default()
        .to_owned();
    let ident = identify(|n| call.var(n), data.caller_id_number());
    let line = cfg.line_for(&dialled);
    let record = NewCallRecord {
        key: key.clone(),
        direction: "inbound".into(),
        caller: ident.e164.clone(),
        caller_raw: ident.raw.clone(),
        presentation: ident.presentation.as_str().into(),
        dialled: dialled.clone(),
        line: call
            .var(kontakt_switch::vars::dialplan::LINE)
            .map(str::to_owned)
            .or_else(|| line.map(|l| l.name.clone())),
        carrier: call
            .var(kontakt_switch::vars::dialplan::CARRIER)
            .map(str::to_owned)
            .or_else(|| line.and_then(|l| l.carrier.clone())),
        started_at: Utc::now(),
    };
    let language = call
        .var(kontakt_switch::vars::dialplan::LANGUAGE)
        .filter(|l| cfg.languages.iter().any(|x| x == l))
        .unwrap_or(&cfg.languages[0])
        .to_owned();
    let prompts = call
        .var(kontakt_switch::vars::dialplan::PROMPTS_DIR)
        .unwrap_or(&cfg.prompts_dir)
        .to_owned();
    // Set by us on an earlier socket: this call is being re-attached after a restart.
    let reattached = call.var(kontakt_switch::vars::kontakt_sets::ACCEPTED) == Some("true");
    let span = tracing::info_span!("call", call = %uuid);
    let _enter = span.enter();

    // The record is durable before anything else happens to the call.
    if let Err(e) = engine.writer.write_durable(vec![CallOp::Open(record.clone())]).await {
        tracing::error!(error = %e, "call record could not be made durable; serving the call anyway");
    }
    let resume = if reattached { resume_point(&*engine.store, &key).await } else { None };
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let info = CallInfo { record: record.clone(), language: language.clone() };
    if engine
        .tx
        .send(EngineEvent::CallStarted {
            info: Box::new(info),
            cmds: cmd_tx,
            resumed: resume.as_ref().map(|r| r.2),
        })
        .is_err()
    {
        let _ = call.hangup(Some("SERVICE_UNAVAILABLE")).await;
        return;
    }
    if let Some(phone) = ident.e164.clone() {
        let (store, tx, uuid) = (engine.store.clone(), engine.tx.clone(), uuid.clone());
        tokio::spawn(async move {
            if let Some(ctx) = caller_context(&*store, &phone).await {
                let _ = tx.send(EngineEvent::CallerContext { uuid, ctx: Box::new(ctx) });
            }
        });
    }
    let script = Script {
        engine: engine.clone(),
        cfg: cfg.clone(),
        control: call.control(),
        uuid: uuid.clone(),
        prompts,
        language,
        cmds: cmd_rx,
        // Only a caller whose number we know can be called back.
        callback_offer: ident
            .e164
            .as_ref()
            .and(cfg.callback_offer_after_secs)
            .map(Duration::from_secs),
    };
    let mut script: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(script.run(resume));
    let mut script_done = false;
    let mut hung_up = false;
    loop {
        tokio::select! {
            () = &mut script, if !script_done => script_done = true,
            ev = call.recv_event() => match ev {
                Ok(ev) => {
                    if let Some(ce) = channel_event(&ev) {
                        if matches!(ce, ChannelEvent::Hangup { .. }) {
                            if hung_up {
                                continue;
                            }
                            hung_up = true;
                        }
                        let _ = engine.tx.send(EngineEvent::Channel { uuid: uuid.clone(), ev: ce });
                    }
                }
                Err(_) => break,
            },
        }
    }
    if !hung_up {
        // A hang-up whose event never came (FreeSWITCH said goodbye before `linger`, e.g.
        // during the handshake) is still a hang-up, not a lost socket of a live call.
        let status = call.status();
        let ev = match status.hung_up {
            true => ChannelEvent::Hangup {
                cause: status.hangup_cause.unwrap_or_else(|| "NORMAL_CLEARING".into()),
            },
            false => ChannelEvent::Gone,
        };
        let _ = engine.tx.send(EngineEvent::Channel { uuid, ev });
    }
}

fn channel_event(ev: &kontakt_esl::Event) -> Option<ChannelEvent> {
    match ev.name()? {
        "CHANNEL_HANGUP" | "CHANNEL_HANGUP_COMPLETE" => Some(ChannelEvent::Hangup {
            cause: ev.hangup_cause().unwrap_or("NORMAL_CLEARING").to_owned(),
        }),
        "CHANNEL_BRIDGE" => Some(ChannelEvent::Bridged {
            other: ev.header("Other-Leg-Unique-ID").unwrap_or_default().to_owned(),
        }),
        "CHANNEL_UNBRIDGE" => Some(ChannelEvent::Unbridged),
        "CHANNEL_HOLD" => Some(ChannelEvent::Held(true)),
        "CHANNEL_UNHOLD" => Some(ChannelEvent::Held(false)),
        "RECORD_START" => {
            ev.header("Record-File-Path").map(|p| ChannelEvent::Recording(p.to_owned()))
        }
        _ => None,
    }
}

/// Where a re-attached call continues: its queue and priority, and the last step number
/// of its record.
async fn resume_point(store: &dyn Store, key: &CallKey) -> Option<(String, u8, i64)> {
    let r =
        tokio::time::timeout(Duration::from_secs(2), store.call_record(key)).await.ok()?.ok()??;
    Some((r.queue?, u8::try_from(r.priority.unwrap_or(0)).unwrap_or(0), r.last_seq))
}

/// The applicant behind a number, with their latest appeals (for the screen-pop and
/// sticky routing).
pub(crate) async fn caller_context(store: &dyn Store, phone: &str) -> Option<CallerContext> {
    let q = ApplicantQuery { phone: Some(phone.to_owned()), limit: 1, ..Default::default() };
    let applicant = store.find_applicants(&q).await.ok()?.into_iter().next()?;
    let filter = AppealFilter { applicant_id: Some(applicant.id), limit: 5, ..Default::default() };
    let appeals = store.list_appeals(&filter).await.unwrap_or_default();
    let last_operator = appeals.first().and_then(|a| a.operator_id);
    let outages = match &applicant.address {
        Some(address) => crate::caller::outages_at(store, address, Utc::now()).await,
        None => Vec::new(),
    };
    let building = applicant.address.as_ref().map(|a| a.building_key());
    let at_address = match &building {
        Some(key) => {
            let filter =
                AppealFilter { building_key: Some(key.clone()), limit: 10, ..Default::default() };
            let others = store.list_appeals(&filter).await.unwrap_or_default();
            others
                .iter()
                .filter(|a| a.applicant_id != Some(applicant.id))
                .filter_map(|a| {
                    let mut s = summary(a);
                    let open = |q: &kontakt_store::Question| {
                        q.building_key.as_deref() == Some(key.as_str())
                            && q.assignments.last().is_none_or(|s| !s.state.is_final())
                    };
                    s.questions = a.questions.iter().filter(|q| open(q)).map(question).collect();
                    (!s.questions.is_empty()).then_some(s)
                })
                .collect()
        }
        None => Vec::new(),
    };
    Some(CallerContext {
        applicant: Some(KnownApplicant {
            id: applicant.id,
            name: [applicant.last_name.as_deref(), applicant.first_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            address: applicant.address.as_ref().map(address_line),
        }),
        appeals: appeals.iter().map(summary).collect(),
        last_operator,
        at_address,
        outages,
    })
}

fn summary(a: &kontakt_store::Appeal) -> AppealSummary {
    AppealSummary {
        id: a.id,
        reg_no: a.reg_no.to_string(),
        registered_at: a.registered_at,
        due_at: a.extended_due_at.or(a.legal_due_at),
        questions: a.questions.iter().map(question).collect(),
    }
}

fn question(q: &kontakt_store::Question) -> QuestionSummary {
    let last = q.assignments.last();
    QuestionSummary {
        category: q.category_code.clone(),
        address: q.address.as_ref().map(address_line),
        state: last.map(|s| s.state.as_str().to_owned()),
        executor_id: last.map(|s| s.executor_id),
        due_at: last.and_then(|s| s.due_at),
    }
}

struct Script {
    engine: EngineHandle,
    cfg: std::sync::Arc<EngineConfig>,
    control: CallControl,
    uuid: String,
    prompts: String,
    language: String,
    cmds: mpsc::UnboundedReceiver<CallCmd>,
    /// After this long in the queue the caller is offered a callback that keeps their place.
    callback_offer: Option<Duration>,
}

impl Script {
    fn prompt(&self, name: &str) -> String {
        format!("{}/{}/{name}.wav", self.prompts, self.language)
    }

    fn ivr_step(&self, label: &str, digits: &str) {
        let _ = self.engine.tx.send(EngineEvent::IvrStep {
            uuid: self.uuid.clone(),
            label: label.to_owned(),
            digits: digits.to_owned(),
        });
    }

    fn done(&self, outcome: IvrOutcome) {
        let _ = self.engine.tx.send(EngineEvent::IvrDone { uuid: self.uuid.clone(), outcome });
    }

    async fn play(&self, name: &str) -> bool {
        self.control.execute("playback", Some(&self.prompt(name))).await.is_ok()
    }

    /// `play_and_get_digits`; `None` when the channel is gone.
    async fn digits(&self, prompt: &str, max: u32, terminators: &str) -> Option<String> {
        let timeout = self.cfg.digit_timeout_secs * 1000;
        let arg = format!(
            "1 {max} 1 {timeout} {terminators} {} {} kontakt_digits \\d+ 3000",
            self.prompt(prompt),
            "silence_stream://250",
        );
        let ev = self.control.execute("play_and_get_digits", Some(&arg)).await.ok()?;
        Some(ev.var("kontakt_digits").unwrap_or_default().to_owned())
    }

    async fn run(mut self, resume: Option<(String, u8, i64)>) {
        if self.control.execute("answer", None).await.is_err() {
            return;
        }
        let _ = self.control.set_var(kontakt_switch::vars::kontakt_sets::ACCEPTED, "true").await;
        if let Some((queue, priority, _)) = resume {
            self.done(IvrOutcome::Queue { queue, priority });
            self.wait().await;
            return;
        }
        match self.menu().await {
            Some(IvrOutcome::Queue { queue, priority }) => {
                self.done(IvrOutcome::Queue { queue, priority });
                self.wait().await;
            }
            Some(outcome) => self.done(outcome),
            None => self.done(IvrOutcome::Finished { reason: "hangup_in_menu".into() }),
        }
    }

    /// The menu; `None` if the caller hung up in it.
    async fn menu(&mut self) -> Option<IvrOutcome> {
        if self.cfg.languages.len() > 1 {
            let d = self.digits("language-choice", 1, "#").await?;
            let idx =
                d.parse::<usize>().ok().filter(|i| (1..=self.cfg.languages.len()).contains(i));
            if let Some(i) = idx {
                self.language = self.cfg.languages[i - 1].clone();
            }
            self.ivr_step(&format!("language:{}", self.language), &d);
        }
        if !self.play("greeting").await {
            return None;
        }
        for _ in 0..self.cfg.menu_tries.max(1) {
            let d = self.digits("main-menu", 1, "#").await?;
            if d.is_empty() {
                break;
            }
            let Some(item) = self.cfg.menu.iter().find(|m| m.digit == d).cloned() else {
                self.ivr_step("invalid", &d);
                if !self.play("invalid-choice").await {
                    return None;
                }
                continue;
            };
            self.ivr_step(&item.label, &d);
            return match item.action {
                MenuAction::Queue { queue, priority } => {
                    if priority > 0 {
                        self.play("emergency-connecting").await;
                    }
                    Some(IvrOutcome::Queue { queue, priority })
                }
                MenuAction::Callback { queue } => {
                    self.done(IvrOutcome::Callback { queue });
                    self.play("callback-confirmed").await;
                    self.play("goodbye").await;
                    let _ = self.control.hangup(None).await;
                    Some(IvrOutcome::Finished { reason: "callback_requested".into() })
                }
                MenuAction::Message { prompt } => {
                    self.play(&prompt).await;
                    let _ = self.control.hangup(None).await;
                    Some(IvrOutcome::Finished { reason: format!("message:{prompt}") })
                }
                MenuAction::AppealStatus => {
                    self.appeal_status().await;
                    let _ = self.control.hangup(None).await;
                    Some(IvrOutcome::Finished { reason: "appeal_status".into() })
                }
            };
        }
        self.ivr_step("no_choice", "");
        Some(IvrOutcome::Queue { queue: self.cfg.default_queue.clone(), priority: 0 })
    }

    /// Self-service: the caller keys the registration number (year and sequence, e.g.
    /// `2026000123#`) and hears the state of the appeal.
    async fn appeal_status(&self) {
        let Some(d) = self.digits("enter-appeal-number", 10, "#").await else { return };
        let reg = (d.len() > 4)
            .then(|| format!("{}-{:0>6}", &d[..4], &d[4..]))
            .and_then(|s| s.parse::<kontakt_appeals::RegNo>().ok());
        let appeal = match reg {
            Some(r) => self.engine.store.appeal_by_reg_no(r).await.ok(),
            None => None,
        };
        let Some(a) = appeal else {
            self.ivr_step("status:not_found", &d);
            self.play("appeal-not-found").await;
            return;
        };
        let states: Vec<_> =
            a.questions.iter().filter_map(|q| q.assignments.last()).map(|s| s.state).collect();
        use kontakt_appeals::AssignmentState as S;
        let prompt = if states.is_empty() || states.iter().all(|s| *s == S::Registered) {
            "appeal-status-registered"
        } else if states.iter().all(|s| s.is_final()) {
            "appeal-status-closed"
        } else {
            "appeal-status-in-progress"
        };
        self.ivr_step(&format!("status:{prompt}"), &d);
        self.play("appeal-status-intro").await;
        self.play(prompt).await;
        self.play("goodbye").await;
    }

    fn announcement(&self, position: usize, ewt_ms: Option<u64>) -> String {
        let mut files = vec![
            self.prompt("queue-position-intro"),
            self.prompt(&format!("num-{}", position.min(20))),
        ];
        if let Some(ms) = ewt_ms {
            let min = ms.div_ceil(60_000).max(1);
            files.push(self.prompt("queue-wait-intro"));
            files.push(self.prompt(&format!("num-{}", min.min(20))));
            files.push(self.prompt(match min % 10 {
                1 if min % 100 != 11 => "minutes-1",
                2..=4 if !(12..=14).contains(&(min % 100)) => "minutes-2-4",
                _ => "minutes-5",
            }));
        }
        format!("file_string://{}", files.join("!"))
    }

    /// Music on hold and announcements until the router's decision arrives.
    async fn wait(&mut self) {
        let mut current: Option<Exec> = None;
        let mut reserved = false;
        let mut connected = false;
        let mut resume_at: Option<tokio::time::Instant> = Some(tokio::time::Instant::now());
        let mut offer_at = self.callback_offer.map(|d| tokio::time::Instant::now() + d);
        // The callback offer is what plays now (its digits are read when it completes).
        let mut offering = false;
        loop {
            if offer_at.is_some_and(|t| t <= tokio::time::Instant::now()) {
                offer_at = None;
                if !reserved && !connected {
                    if current.is_some() {
                        let _ = self.control.api(&format!("uuid_break {}", self.uuid)).await;
                        if let Some(f) = current.take() {
                            let _ = f.await;
                        }
                    }
                    let c = self.control.clone();
                    let arg = format!(
                        "1 1 1 {} # {} silence_stream://250 kontakt_callback_choice \\d",
                        self.cfg.digit_timeout_secs * 1000,
                        self.prompt("callback-offer"),
                    );
                    current = Some(Box::pin(async move {
                        c.execute("play_and_get_digits", Some(&arg)).await
                    }));
                    offering = true;
                    resume_at = None;
                }
            }
            if current.is_none()
                && !connected
                && resume_at.is_some_and(|t| t <= tokio::time::Instant::now())
            {
                let c = self.control.clone();
                let moh = self.cfg.music_on_hold.clone();
                current = Some(Box::pin(async move { c.execute("playback", Some(&moh)).await }));
                resume_at = None;
            }
            // The music's restart time counts only while it can restart: once connected (or
            // while something plays) a past `resume_at` would wake this loop at once, again
            // and again, for the whole conversation.
            let music_due = resume_at.filter(|_| current.is_none() && !connected);
            let wake = match (music_due, offer_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let timer = async {
                match wake {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let playing = async {
                match current.as_mut() {
                    Some(f) => f.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = playing => {
                    current = None;
                    if matches!(r, Err(kontakt_switch::Error::Hangup { .. }) | Err(kontakt_switch::Error::ConnectionLost { .. })) {
                        return;
                    }
                    if std::mem::take(&mut offering) {
                        let chose = r.as_ref().ok().and_then(|ev| ev.var("kontakt_callback_choice"))
                            == Some(self.cfg.callback_offer_digit.as_str());
                        if chose && !reserved && !connected {
                            // The engine answers with the confirmation and the hang-up, or,
                            // when an operator was reserved meanwhile, lets the music resume.
                            let _ = self.engine.tx.send(EngineEvent::Channel {
                                uuid: self.uuid.clone(),
                                ev: ChannelEvent::CallbackChosen,
                            });
                            resume_at = Some(tokio::time::Instant::now() + Duration::from_millis(1500));
                            continue;
                        }
                    }
                    // While an operator is being rung the bridge may be what stopped the
                    // music: give the engine a moment before starting it again.
                    let pause = if reserved { Duration::from_millis(1500) } else { Duration::ZERO };
                    resume_at = Some(tokio::time::Instant::now() + pause);
                }
                () = timer => {}
                cmd = self.cmds.recv() => {
                    let Some(cmd) = cmd else { return };
                    match cmd {
                        CallCmd::Announce { position, ewt_ms } if !reserved && !connected && !offering => {
                            let file = self.announcement(position, ewt_ms);
                            if current.is_some() {
                                let _ = self.control.api(&format!("uuid_break {}", self.uuid)).await;
                                if let Some(f) = current.take() {
                                    let _ = f.await;
                                }
                            }
                            let c = self.control.clone();
                            current = Some(Box::pin(async move { c.execute("playback", Some(&file)).await }));
                            resume_at = None;
                        }
                        CallCmd::Announce { .. } => {}
                        CallCmd::Reserved => reserved = true,
                        CallCmd::Unreserved => {
                            reserved = false;
                            if current.is_none() {
                                resume_at = Some(tokio::time::Instant::now());
                            }
                        }
                        CallCmd::Connected => {
                            connected = true;
                            resume_at = None;
                        }
                        CallCmd::PlayAndHangup(prompt) => {
                            if current.is_some() {
                                let _ = self.control.api(&format!("uuid_break {} all", self.uuid)).await;
                            }
                            let _ = self.play(&prompt).await;
                            let _ = self.control.hangup(None).await;
                            return;
                        }
                        CallCmd::Voicemail { prompt, file, max_secs } => {
                            if current.is_some() {
                                let _ = self.control.api(&format!("uuid_break {} all", self.uuid)).await;
                            }
                            let _ = self.play(&prompt).await;
                            let _ = self.control.execute("playback", Some("tone_stream://%(400,0,800)")).await;
                            // Silence (200 energy, 3 s) ends the message as the time limit does.
                            let arg = format!("{file} {max_secs} 200 3");
                            let _ = self.control.execute("record", Some(&arg)).await;
                            let _ = self.play("goodbye").await;
                            let _ = self.control.hangup(None).await;
                            return;
                        }
                        CallCmd::Hangup(cause) => {
                            let _ = self.control.hangup(Some(&cause)).await;
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// "вул. Перемоги, 12, кв. 5" — how the screen-pop shows an address.
fn address_line(a: &kontakt_appeals::Address) -> String {
    let mut s = format!("{}, {}", a.street, a.building);
    if let Some(e) = &a.entrance {
        s.push_str(&format!(", під. {e}"));
    }
    if let Some(f) = &a.flat {
        s.push_str(&format!(", кв. {f}"));
    }
    s
}
