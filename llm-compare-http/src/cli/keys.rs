//! `llm-compare keys`: API keys in the server's database, without a server — how a fresh
//! install mints its first admin key. Acts as the operator (whoever holds the database).

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use llm_compare_core::Error;
use llm_compare_service::keys::{CreateKey, KeyView};
use llm_compare_service::{Principal, Service};

use crate::{EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, KeysArgs, KeysCommand};

/// `30d`, `12h`, `90m`, `45s` → milliseconds.
fn duration_ms(v: &str) -> Result<i64, Error> {
    let bad = || {
        Error::invalid(
            "expires_in",
            format!("`{v}` is not a duration like 30d, 12h, 90m or 45s"),
        )
    };
    let (n, unit) = v.split_at(v.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let per = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1_000,
        _ => return Err(bad()),
    };
    n.checked_mul(per).filter(|ms| *ms > 0).ok_or_else(bad)
}

async fn service(config: Option<&std::path::Path>, args: &KeysArgs) -> Result<Service, Error> {
    super::stored_service(
        config,
        args.data_dir.as_ref(),
        args.database_url.as_ref(),
        false,
    )
    .await
}

fn describe(k: &KeyView) -> String {
    serde_json::to_string(k).unwrap_or_default()
}

async fn act(config: Option<&std::path::Path>, args: KeysArgs) -> Result<(), Error> {
    let service = service(config, &args).await?;
    let operator = Principal::operator();
    match args.command {
        KeysCommand::Create {
            user,
            name,
            admin,
            models,
            rpm,
            max_active,
            budget_usd,
            period,
            expires_in,
            tools,
        } => {
            let period = period
                .map(|p| {
                    serde_json::from_value(serde_json::Value::String(p.clone())).map_err(|_| {
                        Error::invalid("period", format!("`{p}` is not day, week or month"))
                    })
                })
                .transpose()?;
            let expires_at = expires_in
                .as_deref()
                .map(duration_ms)
                .transpose()?
                .map(|ms| {
                    (llm_compare_service::budget::unix_ms(time::OffsetDateTime::now_utc()) + ms)
                        .to_string()
                });
            let created = service
                .create_key(
                    &operator,
                    CreateKey {
                        user,
                        name,
                        admin: Some(admin),
                        models: (!models.is_empty()).then_some(models),
                        rpm,
                        max_active,
                        budget_usd,
                        period,
                        expires_at,
                        tools: (!tools.is_empty()).then_some(tools),
                        ..CreateKey::default()
                    },
                )
                .await?;
            // The secret alone on stdout, for `KEY=$(…)`; what it is on stderr.
            eprintln!("created {}", describe(&created.view));
            eprintln!("the key below is shown once: store it now");
            super::print_out(&created.key);
        }
        KeysCommand::List { json } => {
            let mut all = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = service
                    .keys(&operator, Some(100), cursor.as_deref())
                    .await?;
                all.extend(page.data);
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            if json {
                super::print_out(&serde_json::to_string_pretty(&all).unwrap_or_default());
            } else {
                let mut table = Table::new();
                table
                    .load_preset(UTF8_FULL_CONDENSED)
                    .set_header(["Id", "User", "Name", "Prefix", "Scope", "Models", "Status"]);
                for k in &all {
                    table.add_row([
                        k.id.clone(),
                        k.user.clone(),
                        k.name.clone().unwrap_or_default(),
                        k.prefix.clone(),
                        format!("{:?}", k.scope).to_lowercase(),
                        if k.models.is_empty() {
                            "*".to_string()
                        } else {
                            k.models.join(" ")
                        },
                        k.status.to_string(),
                    ]);
                }
                super::print_out(&table.to_string());
            }
        }
        KeysCommand::Revoke { id } => {
            let k = service.revoke_key(&operator, &id).await?;
            eprintln!("revoked {}", describe(&k));
        }
    }
    Ok(())
}

/// Runs `llm-compare keys …`.
pub async fn run(config: Option<&std::path::Path>, args: KeysArgs) -> u8 {
    match act(config, args).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            super::print_error(&e);
            match e.code() {
                llm_compare_core::ErrorCode::InvalidRequest
                | llm_compare_core::ErrorCode::NotFound => EXIT_USAGE,
                _ => EXIT_INTERNAL,
            }
        }
    }
}
