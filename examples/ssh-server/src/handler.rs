//! [`ConnHandler`]: russh's per-connection handler, spawning into the `Conn`.

use std::collections::HashMap;
use std::sync::Arc;

use russh::server::{Auth, ChannelOpenHandle, Handler, Msg, Session};
use russh::{Channel, ChannelId};
use scope_conn::ConnSpawner;

use crate::command;
use crate::ledger::Ledger;

/// One connection's russh handler. Every channel's work (an `exec`, a
/// shell) becomes a task of the connection's nursery through `spawner`; the
/// handler itself holds no work, so russh dropping it (its session loop
/// ending) loses none.
pub(crate) struct ConnHandler {
    spawner: ConnSpawner,
    ledger: Arc<Ledger>,
    /// Channels opened and not yet given a request. Only a shell reads its
    /// channel; any other request drops it at once, because russh waits for
    /// room in a held channel's queue before it reads on (an unread one
    /// would stall the whole session).
    opened: HashMap<ChannelId, Channel<Msg>>,
}

impl ConnHandler {
    pub(crate) fn new(spawner: ConnSpawner, ledger: Arc<Ledger>) -> Self {
        ConnHandler {
            spawner,
            ledger,
            opened: HashMap::new(),
        }
    }

    /// Tells the client whether the nursery took the channel's task.
    fn answer(
        &self,
        accepted: bool,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        if accepted {
            self.ledger.command_accepted();
            session.channel_success(channel)
        } else {
            // Refused: the close has begun (russh calls us from its own
            // session task, which is outside the nursery) or the limit is
            // reached.
            self.ledger.command_refused();
            session.channel_failure(channel)?;
            session.close(channel)
        }
    }
}

impl Handler for ConnHandler {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        // A loopback demo: anyone may run the built-in commands.
        Ok(Auth::Accept)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.ledger.channel_opened();
        self.opened.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.opened.remove(&channel);
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(opened) = self.opened.remove(&channel) else {
            return session.channel_failure(channel);
        };
        let task = command::echo_shell(
            opened,
            self.spawner.token().clone(),
            Arc::clone(&self.ledger),
        );
        let accepted = self.spawner.spawn_named("shell", task).is_ok();
        self.answer(accepted, channel, session)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // No subsystems (sftp and the like) here.
        self.opened.remove(&channel);
        session.channel_failure(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.opened.remove(&channel);
        let line = String::from_utf8_lossy(data).into_owned();
        let task = command::run(
            line,
            channel,
            session.handle(),
            self.spawner.token().clone(),
            Arc::clone(&self.ledger),
        );
        let accepted = self.spawner.spawn_named("exec", task).is_ok();
        self.answer(accepted, channel, session)?;
        Ok(())
    }
}
