//! `llm-compare models`: the catalogue.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use llm_compare_core::CostSource;

use crate::{EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, ModelsArgs};

fn price(p: Option<f64>) -> String {
    p.map_or_else(|| "-".to_string(), |p| format!("${p}"))
}

/// Runs `llm-compare models`.
pub async fn run(config: Option<&std::path::Path>, args: ModelsArgs) -> u8 {
    let service = match super::service(config, None, false).await {
        Ok(e) => e,
        Err(e) => {
            super::print_error(&e);
            return EXIT_USAGE;
        }
    };
    let models = service.models().await;
    if args.json {
        return match serde_json::to_string_pretty(&models) {
            Ok(s) => {
                super::print_out(&s);
                EXIT_OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_INTERNAL
            }
        };
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "Model",
        "Provider",
        "Context",
        "Input $/1M",
        "Output $/1M",
        "Prices from",
        "Takes",
        "Available",
    ]);
    for m in &models {
        table.add_row([
            m.id.clone(),
            m.provider.clone(),
            m.context_window
                .map_or_else(|| "-".into(), |c| c.to_string()),
            price(m.input_usd_per_million),
            price(m.output_usd_per_million),
            match m.price_source {
                Some(CostSource::Config) => "config".to_string(),
                Some(_) => "price table".to_string(),
                None => "-".to_string(),
            },
            {
                let takes: Vec<&str> = m
                    .capabilities
                    .iter()
                    .map(String::as_str)
                    .filter(|c| matches!(*c, "vision" | "pdf"))
                    .map(|c| if c == "vision" { "images" } else { "PDFs" })
                    .collect();
                if takes.is_empty() {
                    "text".to_string()
                } else {
                    format!("text, {}", takes.join(", "))
                }
            },
            match &m.reason {
                None => "yes".to_string(),
                Some(r) => format!("no: {r}"),
            },
        ]);
    }
    super::print_out(&table.to_string());
    // Which price data the table's figures are: a user checking a price against the
    // provider's page needs to know how old it is.
    super::print_out(&format!(
        "Price table: LiteLLM's price data, version {} ({} models); overrides from the configuration say `config`.",
        service.prices().version().unwrap_or("unknown"),
        service.prices().len()
    ));
    EXIT_OK
}
