//! `serve`: the run viewer in the browser (see [`crate::web`]).

use std::net::SocketAddr;

use crate::cli::error::CliError;
use crate::cli::output::outln;
use crate::engine::EngineSettings;
use crate::store::{StoreSpec, Stores};
use crate::web::Viewer;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The address to listen on. Beyond 127.0.0.1 (e.g. 0.0.0.0:8080), every page needs the
    /// token too, not only the actions.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The token that actions (and, beyond this machine, pages) need; a random one is made and
    /// printed when not given.
    #[arg(long, env = "PIPELINE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Fire the pipelines' schedules too, as `scheduler` does (each tick's run starts once
    /// however many schedulers and workers run).
    #[arg(long)]
    schedules: bool,
}

pub(super) async fn exec(
    args: Args,
    stores: Stores,
    store: &StoreSpec,
    settings: &EngineSettings,
) -> Result<i32, CliError> {
    let private = !args.listen.ip().is_loopback();
    let scheduler = match args.schedules {
        true => {
            let with = super::schedules::with(store, &stores)?;
            Some(super::schedules::scheduler(&[], settings, || with.clone())?)
        }
        false => None,
    };
    let mut viewer = Viewer::new(stores)
        .private(private)
        .settings(settings.clone());
    if let Some(token) = args.token {
        let url_safe = |c: char| c.is_ascii_alphanumeric() || "-_.~".contains(c);
        let reason = match (token.len() < 16, token.chars().all(url_safe)) {
            (true, _) => Some("a token must have at least 16 characters"),
            (false, false) => Some(
                "a token may hold only letters, digits and `-_.~` (it goes into a URL and a cookie)",
            ),
            (false, true) => None,
        };
        if let Some(reason) = reason {
            return Err(CliError::InvalidOption {
                option: "--token".into(),
                reason: reason.into(),
            });
        }
        viewer = viewer.with_token(token);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| CliError::Listen {
            addr: args.listen.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| CliError::Listen {
        addr: args.listen.to_string(),
        source,
    })?;
    outln!("serving the runs of {store}");
    outln!("open http://{addr}/?token={}", viewer.token());
    match private {
        true => outln!("listening beyond this machine: every page needs the token"),
        false => outln!("(pages are open to this machine; actions need the token)"),
    }
    if let Some(scheduler) = &scheduler {
        outln!("firing {} schedules", scheduler.schedules().len());
    }
    outln!("Ctrl-C stops the server");
    let firing = scheduler.map(|s| tokio::spawn(s.run(std::future::pending())));
    let serve = viewer.serve(listener);
    let served = tokio::select! {
        result = serve => result.map_err(|source| CliError::Listen { addr: addr.to_string(), source }),
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    if let Some(firing) = firing {
        firing.abort();
    }
    served.map(|()| 0)
}
