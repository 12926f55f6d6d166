//! `kontakt user add|list|passwd`: account management from the server's shell, for the first
//! administrator and for recovery when nobody can log in.

use anyhow::{Context, bail};
use clap::Subcommand;
use kontakt_web::auth;
use kontakt_web::dto::NewUserRequest;

use crate::config::Config;
use crate::serve::open_store;

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create an account. Without --password a one-time password is generated and printed.
    Add {
        username: String,
        /// admin, supervisor, operator, controller, executor or citizen.
        #[arg(long)]
        role: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Required for executor accounts: the organisation's id.
        #[arg(long)]
        executor_id: Option<i64>,
        #[arg(long)]
        password: Option<String>,
    },
    /// List accounts.
    List,
    /// Set a new password. Without --password a one-time password is generated and printed,
    /// and must be changed at the next login.
    Passwd {
        username: String,
        #[arg(long)]
        password: Option<String>,
    },
}

pub(crate) async fn run(config: &Config, cmd: UserCommand) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    store.migrate().await.context("migration failed")?;
    match cmd {
        UserCommand::Add { username, role, display_name, executor_id, password } => {
            let generated = password.is_none();
            let password = password.unwrap_or_else(auth::new_password);
            let mut new = kontakt_web::validate_new_user(NewUserRequest {
                display_name: display_name.unwrap_or_else(|| username.clone()),
                username,
                role,
                password: password.clone(),
                executor_id,
            })
            .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
            new.must_change_password = generated;
            let user = store.create_user(new, kontakt_web::registration::now()).await.map_err(
                |e| match e {
                    kontakt_store::StoreError::Conflict(_) => {
                        anyhow::anyhow!("that username is taken")
                    }
                    kontakt_store::StoreError::MissingReference(_) => {
                        anyhow::anyhow!("no executor with that id")
                    }
                    other => other.into(),
                },
            )?;
            println!(
                "created user {} (id {}, role {})",
                user.username,
                user.id,
                user.role.as_str()
            );
            if generated {
                println!("one-time password: {password}  (must be changed at first login)");
            }
        }
        UserCommand::List => {
            println!("{:<6} {:<24} {:<11} {:<7} name", "id", "username", "role", "active");
            for u in store.users().await? {
                println!(
                    "{:<6} {:<24} {:<11} {:<7} {}",
                    u.id,
                    u.username,
                    u.role.as_str(),
                    u.active,
                    u.display_name
                );
            }
        }
        UserCommand::Passwd { username, password } => {
            let Some(creds) = store.user_credentials(&username).await? else {
                bail!("no user {username:?}");
            };
            let generated = password.is_none();
            let password = password.unwrap_or_else(auth::new_password);
            if password.chars().count() < 10 {
                bail!("the password must have at least 10 characters");
            }
            let hash = auth::hash_password(&password).map_err(|e| anyhow::anyhow!(e.message))?;
            store.set_password(creds.user.id, hash, generated).await?;
            println!("password of {username} changed; their sessions are ended");
            if generated {
                println!("one-time password: {password}  (must be changed at next login)");
            }
        }
    }
    Ok(())
}

fn describe(e: &kontakt_web::error::ApiError) -> String {
    match e.fields.first() {
        Some(f) => format!("{}: {}", f.field, f.message),
        None => e.message.clone(),
    }
}
