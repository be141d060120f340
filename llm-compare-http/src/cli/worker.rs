//! `llm-compare worker`: makes exactly one model call and writes its events on stdout, one
//! JSON object per line ([`CallEvent::into_line`]), flushed line by line. This is the far end of
//! a remote runner: the Kubernetes runner starts it in a Job's pod and follows the pod's log.
//!
//! Exit codes: 0 once the call's last event (`end` or `failed`: a model failure is reported
//! in-band) is written; 2 when the call or the configuration is unusable (a `failed` line says
//! why when the call could be read); 130 when terminated (SIGTERM/SIGINT: the upstream call is
//! dropped, a `cancel` line is written).

use std::io::Write;
use std::path::Path;

use futures::StreamExt;
use llm_compare_core::{CallEvent, Error, ModelCall};

use crate::{EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, WorkerArgs};

fn read_call(arg: &str) -> Result<ModelCall, String> {
    let text = if arg == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("reading stdin: {e}"))?
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?
    } else {
        arg.to_string()
    };
    serde_json::from_str(&text)
        .map_err(|e| format!("the call is not valid JSON of a model call: {e}"))
}

fn emit(event: CallEvent) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (the reader went away) leaves nobody to tell: the call goes on to its
    // end or to the termination signal.
    let _ = writeln!(out, "{}", event.into_line());
    let _ = out.flush();
}

/// Runs `llm-compare worker`.
pub async fn run(config: Option<&Path>, args: WorkerArgs) -> u8 {
    let call = match read_call(&args.call) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let events = super::service(config, None, true)
        .await
        .and_then(|service| service.run_call(call));
    let mut events = match events {
        Ok(events) => events,
        Err(e) => {
            super::print_error(&e);
            emit(CallEvent::Failed(e));
            return EXIT_USAGE;
        }
    };
    let terminated = terminated();
    tokio::pin!(terminated);
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(event) => {
                    let last = event.is_last();
                    emit(event);
                    if last {
                        return EXIT_OK;
                    }
                }
                None => {
                    emit(CallEvent::Failed(Error::Internal("the call ended without a last event".into())));
                    return EXIT_OK;
                }
            },
            () = &mut terminated => {
                drop(events);
                emit(CallEvent::Cancel);
                return EXIT_INTERRUPTED;
            }
        }
    }
}

/// SIGTERM (Kubernetes deleting the pod) or Ctrl-C.
async fn terminated() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
