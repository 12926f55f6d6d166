//! Typed configuration: built-in defaults, then a TOML file, then `KONTAKT_*` environment
//! variables, then command-line flags — each layer overrides the one before.
//!
//! Environment variables are derived from the TOML path, so every key has one and none is
//! forgotten: `[database] url` is `KONTAKT_DATABASE_URL`, `[server] listen` is
//! `KONTAKT_SERVER_LISTEN`. Secrets are wrapped in `Secret`, which never prints its value.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub(crate) struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub log: LogConfig,
    pub esl: EslConfig,
    pub ivr: IvrConfig,
    /// The call center: lines, menu, queues, operators (see kontakt-engine's `EngineConfig`).
    pub callcenter: kontakt_engine::EngineConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerConfig {
    /// Address and port the HTTP API listens on.
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DatabaseConfig {
    /// `sqlite://path/file.db` (created if missing) or `postgres://user:password@host/db`.
    pub url: Secret,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AuthConfig {
    /// How long a login lasts without logging in again.
    pub session_hours: u32,
    /// Mark the session cookie `Secure` (set when Kontakt is served over HTTPS).
    pub cookie_secure: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogConfig {
    /// A tracing filter: `info`, `kontakt=debug,sqlx=warn`, …
    pub level: String,
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct EslConfig {
    /// FreeSWITCH's inbound Event Socket (event_socket.conf.xml `listen-ip:listen-port`).
    pub(crate) address: String,
    /// Its password; empty means "not configured yet". Never FreeSWITCH's default.
    pub(crate) password: Secret,
    /// Where Kontakt accepts FreeSWITCH's per-call outbound sockets
    /// (`socket ${kontakt_esl_host}:${kontakt_esl_port} async full` in the dialplan).
    pub(crate) listen: SocketAddr,
    /// The node above by FreeSWITCH's `switchname` (its host name unless set in
    /// switch.conf.xml). Call records are keyed by it, so with several nodes it must be
    /// exact; Kontakt logs a warning when FreeSWITCH reports another name.
    pub(crate) name: String,
    /// Further FreeSWITCH nodes (several behind Kamailio), each with its own Event Socket.
    pub(crate) nodes: Vec<EslNode>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct EslNode {
    /// FreeSWITCH's `switchname` of this node.
    pub(crate) name: String,
    pub(crate) address: String,
    pub(crate) password: Secret,
}

impl EslConfig {
    /// Every FreeSWITCH node to connect to: the one of `address`/`password` when its
    /// password is set, then `nodes`. Empty: telephony is not configured.
    pub(crate) fn all_nodes(&self) -> Vec<EslNode> {
        let first = (!self.password.expose().is_empty()).then(|| EslNode {
            name: self.name.clone(),
            address: self.address.clone(),
            password: self.password.clone(),
        });
        first.into_iter().chain(self.nodes.iter().cloned()).collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct IvrConfig {
    /// Directory of the IVR prompts as deploy/prompts/generate.sh lays them out:
    /// `<dir>/<language>/<name>.wav`.
    pub(crate) prompts_dir: PathBuf,
    /// Languages the menu offers, first is the default.
    pub(crate) languages: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// A value that must not appear in logs or `Debug` output (passwords, database URLs that
/// carry passwords).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig").field("url", &redact_url(self.url.expose())).finish()
    }
}

/// A database URL safe to print: the password, if any, is replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

pub(crate) const DEFAULT_DATA_DIR: &str = "kontakt-data";

impl Default for EslConfig {
    fn default() -> Self {
        EslConfig {
            address: "127.0.0.1:8021".to_string(),
            password: Secret::new(""),
            listen: SocketAddr::from(([127, 0, 0, 1], 8084)),
            name: "freeswitch".to_string(),
            nodes: Vec::new(),
        }
    }
}

impl Default for IvrConfig {
    fn default() -> Self {
        IvrConfig {
            prompts_dir: PathBuf::from("/usr/share/freeswitch/sounds/kontakt"),
            languages: vec!["uk".to_string(), "en".to_string()],
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 256 * 1024,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: Secret::new(format!("sqlite://{DEFAULT_DATA_DIR}/kontakt.db")) }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { session_hours: 12, cookie_secure: false }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".to_string(), format: LogFormat::Text }
    }
}

/// Command-line flags that override the file and the environment.
#[derive(Debug, Default, Clone)]
pub(crate) struct Overrides {
    pub database_url: Option<String>,
    pub listen: Option<SocketAddr>,
}

impl Config {
    /// Loads the layers. `file` is optional; when given it must exist and parse.
    pub(crate) fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> anyhow::Result<Config> {
        let mut tree = toml::Value::try_from(Config::default())
            .context("internal error: the default configuration does not serialise")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read configuration file {}", path.display()))?;
            let layer: toml::Value = toml::from_str(&text)
                .with_context(|| format!("{} is not valid TOML", path.display()))?;
            merge(&mut tree, layer);
        }
        apply_env(&mut tree, env)?;
        let mut config: Config = tree.try_into().map_err(|e: toml::de::Error| {
            anyhow::anyhow!("invalid configuration: {}", e.message())
        })?;
        if let Some(url) = &flags.database_url {
            config.database.url = Secret::new(url.clone());
        }
        if let Some(listen) = flags.listen {
            config.server.listen = listen;
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let url = self.database.url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            bail!("database.url must start with sqlite:// or postgres://, got {}", redact_url(url));
        }
        if self.auth.session_hours == 0 {
            bail!("auth.session_hours must be at least 1");
        }
        if self.server.max_body_bytes < 1024 {
            bail!("server.max_body_bytes must be at least 1024");
        }
        if self.esl.password.expose() == "ClueCon" {
            bail!("esl.password is FreeSWITCH's well-known default: set a secret one");
        }
        let mut names = std::collections::HashSet::new();
        for n in self.esl.all_nodes() {
            if n.name.trim().is_empty() || n.address.trim().is_empty() {
                bail!("every esl node needs a name (FreeSWITCH's switchname) and an address");
            }
            match n.password.expose() {
                "" => bail!("esl node {:?} has no password", n.name),
                "ClueCon" => bail!(
                    "esl node {:?}: the password is FreeSWITCH's well-known default: set a secret one",
                    n.name
                ),
                _ => {}
            }
            if !names.insert(n.name.clone()) {
                bail!("esl node {:?} is configured twice", n.name);
            }
        }
        if self.ivr.languages.is_empty() {
            bail!("ivr.languages must name at least one language");
        }
        self.engine_config().validate().map_err(|e| anyhow::anyhow!("callcenter: {e}"))?;
        Ok(())
    }

    /// The engine's configuration: `[callcenter]` plus the prompt settings of `[ivr]`.
    pub(crate) fn engine_config(&self) -> kontakt_engine::EngineConfig {
        let mut c = self.callcenter.clone();
        c.languages = self.ivr.languages.clone();
        c.prompts_dir = self.ivr.prompts_dir.display().to_string();
        c
    }

    /// The directory a SQLite URL points into, so `serve` can create it.
    pub(crate) fn sqlite_dir(&self) -> Option<PathBuf> {
        let path = self.database.url.expose().strip_prefix("sqlite://")?;
        let path = path.split('?').next().unwrap_or(path);
        Path::new(path).parent().map(Path::to_path_buf)
    }
}

fn merge(base: &mut toml::Value, layer: toml::Value) {
    match (base, layer) {
        (toml::Value::Table(b), toml::Value::Table(l)) => {
            for (k, v) in l {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, l) => *b = l,
    }
}

/// `KONTAKT_SECTION_KEY=value` sets `[section] key`. The value is read as the type the key
/// already has (number, boolean or string), so `KONTAKT_AUTH_COOKIE_SECURE=true` is a bool.
/// A name that starts with a configuration section but names no key of it is an error, so a
/// typo is not silently ignored; `KONTAKT_*` names outside every section (the test suite's
/// `KONTAKT_TEST_PG_URL`, tools' own variables) are not configuration and are left alone.
fn apply_env(
    tree: &mut toml::Value,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<()> {
    let Some(root) = tree.as_table_mut() else { bail!("internal error: configuration root") };
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("KONTAKT_") else { continue };
        let rest = rest.to_ascii_lowercase();
        if !root.keys().any(|section| rest.starts_with(&format!("{section}_"))) {
            continue;
        }
        let mut placed = false;
        for (section, table) in root.iter_mut() {
            let Some(key) = rest.strip_prefix(&format!("{section}_")) else { continue };
            let Some(table) = table.as_table_mut() else { continue };
            let Some(current) = table.get(key) else { continue };
            let parsed = match current {
                toml::Value::Integer(_) => toml::Value::Integer(
                    value.parse().with_context(|| format!("{name} must be a whole number"))?,
                ),
                toml::Value::Boolean(_) => toml::Value::Boolean(
                    value.parse().with_context(|| format!("{name} must be true or false"))?,
                ),
                // Lists are written comma-separated: KONTAKT_IVR_LANGUAGES=uk,en
                toml::Value::Array(_) => toml::Value::Array(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(|v| toml::Value::String(v.to_string()))
                        .collect(),
                ),
                _ => toml::Value::String(value.clone()),
            };
            table.insert(key.to_string(), parsed);
            placed = true;
            break;
        }
        if !placed {
            bail!("unknown environment variable {name}: no such configuration key");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.database.url.expose(), "sqlite://kontakt-data/kontakt.db");
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.sqlite_dir().unwrap(), PathBuf::from("kontakt-data"));
    }

    #[test]
    fn the_example_file_documents_every_key_and_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kontakt.example.toml");
        let c = Config::load(Some(&path), env(&[]), &Overrides::default()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let example: toml::Value = toml::from_str(&text).unwrap();
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        // Every key the program knows appears in the example, and nothing else does.
        for (section, table) in defaults.as_table().unwrap() {
            for key in table.as_table().unwrap().keys() {
                assert!(
                    example.get(section).and_then(|s| s.get(key)).is_some(),
                    "deploy/kontakt.example.toml lacks [{section}] {key}"
                );
            }
        }
        assert!(c.database.url.expose().starts_with("sqlite://"));
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k.toml");
        std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:9000\"\n[auth]\nsession_hours = 8\n")
            .unwrap();
        let c = Config::load(
            Some(&file),
            env(&[
                ("KONTAKT_AUTH_SESSION_HOURS", "4"),
                ("KONTAKT_AUTH_COOKIE_SECURE", "true"),
                ("KONTAKT_IVR_LANGUAGES", "uk, en,de"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.auth.session_hours, 4);
        assert!(c.auth.cookie_secure);
        assert_eq!(c.ivr.languages, ["uk", "en", "de"]);
        let c = Config::load(
            Some(&file),
            env(&[("KONTAKT_SERVER_LISTEN", "127.0.0.1:9100")]),
            &Overrides { listen: Some("127.0.0.1:9200".parse().unwrap()), database_url: None },
        )
        .unwrap();
        assert_eq!(c.server.listen.port(), 9200);
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let e = Config::load(
            None,
            env(&[("KONTAKT_AUTH_SESSION_HOURS", "many")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("KONTAKT_AUTH_SESSION_HOURS must be a whole number"));
        let e =
            Config::load(None, env(&[("KONTAKT_AUTH_SESION_HOURS", "1")]), &Overrides::default())
                .unwrap_err();
        assert!(e.to_string().contains("unknown environment variable KONTAKT_AUTH_SESION_HOURS"));
        // Variables outside every section belong to other tools and are left alone.
        Config::load(None, env(&[("KONTAKT_TEST_PG_URL", "postgres://x")]), &Overrides::default())
            .unwrap();
        let e = Config::load(
            None,
            env(&[("KONTAKT_DATABASE_URL", "mysql://x")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("must start with sqlite://"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k.toml");
        std::fs::write(&file, "[server]\nlisten_on = \"x\"\n").unwrap();
        let e = Config::load(Some(&file), env(&[]), &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("unknown field `listen_on`"), "{e}");
    }

    #[test]
    fn several_freeswitch_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k.toml");
        let load = |text: &str| {
            std::fs::write(&file, text).unwrap();
            Config::load(Some(&file), env(&[]), &Overrides::default())
        };
        let c = load(
            "[esl]\npassword = \"s1\"\nname = \"fs1\"\n\
             nodes = [{ name = \"fs2\", address = \"10.0.0.12:8021\", password = \"hunter-two\" }]\n",
        )
        .unwrap();
        let nodes = c.esl.all_nodes();
        let names: Vec<(&str, &str)> =
            nodes.iter().map(|n| (n.name.as_str(), n.address.as_str())).collect();
        assert_eq!(names, [("fs1", "127.0.0.1:8021"), ("fs2", "10.0.0.12:8021")]);
        assert!(!format!("{c:?}").contains("hunter-two"), "node passwords are secrets");
        // Only extra nodes: telephony runs with those.
        let c =
            load("[esl]\nnodes = [{ name = \"fs2\", address = \"h:8021\", password = \"s\" }]\n")
                .unwrap();
        assert_eq!(c.esl.all_nodes().len(), 1);
        assert!(Config::default().esl.all_nodes().is_empty(), "nothing configured: no telephony");
        for (text, why) in [
            (
                "[esl]\npassword = \"s\"\nname = \"fs\"\nnodes = [{ name = \"fs\", address = \"h:1\", password = \"t\" }]\n",
                "configured twice",
            ),
            (
                "[esl]\nnodes = [{ name = \"fs2\", address = \"h:1\", password = \"ClueCon\" }]\n",
                "well-known default",
            ),
            (
                "[esl]\nnodes = [{ name = \"fs2\", address = \"h:1\", password = \"\" }]\n",
                "has no password",
            ),
            (
                "[esl]\nnodes = [{ name = \"\", address = \"h:1\", password = \"x\" }]\n",
                "needs a name",
            ),
        ] {
            let e = load(text).unwrap_err();
            assert!(format!("{e:#}").contains(why), "{text}: {e:#}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let c = Config::load(
            None,
            env(&[("KONTAKT_DATABASE_URL", "postgres://kontakt:hunter2@db/kontakt")]),
            &Overrides::default(),
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://kontakt:***@db/kontakt"), "{shown}");
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "\"***\"");
    }
}
