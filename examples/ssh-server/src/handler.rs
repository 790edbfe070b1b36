//! [`ConnHandler`]: russh's handler of one connection.

use std::collections::HashMap;
use std::sync::Arc;

use russh::server::{Auth, ChannelOpenHandle, Handler, Msg, Session};
use russh::{Channel, ChannelId, ChannelOpenFailure};
use scope_conn::Conn;
use scope_core::SpawnError;

use crate::command;
use crate::counters::Counters;

/// What a client is told when it asks for a channel on a closing
/// connection. Code 1 is "administratively prohibited" (RFC 4254, 5.1).
const CLOSING: &str = "the server is closing this connection";

/// One connection's russh handler. It runs in russh's own task, outside the
/// connection's nursery, and starts every command as a task of that
/// nursery; so once the connection begins to close the nursery refuses
/// them, and the client is told so. Whether the connection is closing is
/// the nursery's to say: the handler asks it, and keeps no flag of its own.
pub(crate) struct ConnHandler {
    conn: Conn,
    counters: Arc<Counters>,
    /// Channels opened and not yet given a request. Only a shell reads its
    /// channel; any other request drops it at once, because russh waits
    /// for room in a held channel's queue before it reads on: an unread one
    /// would stall the whole session.
    opened: HashMap<ChannelId, Channel<Msg>>,
}

impl ConnHandler {
    pub(crate) fn new(conn: Conn, counters: Arc<Counters>) -> Self {
        ConnHandler {
            conn,
            counters,
            opened: HashMap::new(),
        }
    }

    /// Tells the client whether the nursery took the request's task.
    fn answer<F>(
        &self,
        spawned: Result<tokio::task::AbortHandle, SpawnError<F>>,
        what: &str,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        let id = self.conn.id();
        match spawned {
            Ok(_) => {
                println!("conn {id}: {what}");
                session.channel_success(channel)
            }
            Err(refused) => {
                let why = if refused.is_full() {
                    "too many commands on this connection"
                } else {
                    "closing"
                };
                println!("conn {id}: {what} refused: {why}");
                // Dropped unstarted: the request's task never ran.
                drop(refused.into_inner());
                session.channel_failure(channel)
            }
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
        if self.conn.spawner().is_closing() {
            drop(channel);
            self.counters.channel_open_refused();
            println!("conn {}: channel open refused: closing", self.conn.id());
            reply
                .reject(ChannelOpenFailure::Other {
                    code: 1,
                    reason: CLOSING.to_owned(),
                })
                .await;
        } else {
            self.opened.insert(channel.id(), channel);
            reply.accept().await;
        }
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

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // An exec's stdin goes unread.
        self.opened.remove(&channel);
        let line = String::from_utf8_lossy(data).into_owned();
        let what = format!("exec {line:?}");
        let task = command::exec(
            line,
            channel,
            session.handle(),
            self.conn.spawner().token().clone(),
            Arc::clone(&self.counters),
        );
        let spawned = self.conn.spawner().spawn_named("exec", task);
        self.answer(spawned, &what, channel, session)
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
            session.handle(),
            self.conn.spawner().token().clone(),
            Arc::clone(&self.counters),
        );
        let spawned = self.conn.spawner().spawn_named("shell", task);
        self.answer(spawned, "shell", channel, session)
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
}
