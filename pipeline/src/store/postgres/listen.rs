//! Wake-ups through `LISTEN/NOTIFY`: one connection that listens on a channel and reconnects
//! when it drops. Notifications sent while it is down are lost, so every user of a [`Listener`]
//! also polls; a reconnect counts as a wake-up, so nothing waits a whole poll interval for a
//! notification it missed.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::poll_fn;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio_postgres::{AsyncMessage, Config, NoTls};

/// Wakes its waiters when a notification arrives on its channel.
pub(crate) struct Listener {
    notify: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Starts listening on `channel` of the database `config` names, on a task of its own.
    pub fn start(config: Config, channel: &'static str) -> Listener {
        let notify = Arc::new(Notify::new());
        let wake = Arc::clone(&notify);
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = listen(&config, channel, &wake).await {
                    tracing::debug!(error = %e, channel, "LISTEN connection lost; reconnecting");
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        Listener { notify, task }
    }

    /// A wake-up for the next notification, armed now: take it before looking for work (or
    /// checking a run), then await it, and nothing that arrives in between is missed. Every
    /// armed wake-up fires on each notification.
    pub fn armed(&self) -> Pin<Box<Notified<'_>>> {
        let mut notified = Box::pin(self.notify.notified());
        notified.as_mut().enable();
        notified
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listen(
    config: &Config,
    channel: &str,
    wake: &Notify,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (sender, mut messages) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if sender.send(()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "LISTEN connection error");
                    break;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {channel}")).await?;
    // Anything that happened while the connection was down was missed: wake everyone once.
    wake.notify_waiters();
    while messages.recv().await.is_some() {
        wake.notify_waiters();
    }
    driver.abort();
    Ok(())
}
