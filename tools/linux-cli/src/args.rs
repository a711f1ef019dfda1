//! The command line: `bulkhead COMMAND ARGS...`, parsed into a [`Command`].
//!
//! Hand-written rather than clap-derived: the tool runs in a small static
//! initramfs and every message it prints is one `bulkhead: ...` line that
//! tests may grep.
#![forbid(unsafe_code)]

use std::fmt;

use bulkhead_abi::control::commands;

/// What `bulkhead help` prints.
pub const USAGE: &str = "\
usage: bulkhead COMMAND [ARGS]

partitions (needs the Bulkhead control function: a partition that manages others):
  ps                                  one line per partition: ID LABEL STATE VCPUS MEMORY BOOTS CHECKPOINT
  stats NAME                          every table field of partition NAME (label or id) as key=value
  checkpoint|restore|restart|stop|start NAME
                                      a lifecycle command on partition NAME

channels (ivshmem-style PCI functions 1af4:1110, CH = channel id or label):
  channels                            one line per endpoint: CHANNEL LABEL ENDPOINT/ENDPOINTS SIZE ACCESS PCI
  send CH FILE [--peer N]             sends FILE (- for stdin) to the peer endpoint
  recv CH FILE [--peer N]             receives into FILE (- for stdout) from the peer endpoint
  ping CH [COUNT] [--peer N]          COUNT round trips (default 1) with a `pong` at the peer
  pong CH [COUNT] [--peer N]          answers COUNT pings (default 1)

--peer N: the other endpoint's index (default: the lowest index other than ours)
";

/// A lifecycle command of the control function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Checkpoint,
    Restore,
    Restart,
    Stop,
    Start,
}

impl Action {
    /// Every action, in the order `help` lists them.
    pub const ALL: [Action; 5] = [
        Action::Checkpoint,
        Action::Restore,
        Action::Restart,
        Action::Stop,
        Action::Start,
    ];

    /// The word on the command line and in output lines.
    pub const fn name(self) -> &'static str {
        match self {
            Action::Checkpoint => "checkpoint",
            Action::Restore => "restore",
            Action::Restart => "restart",
            Action::Stop => "stop",
            Action::Start => "start",
        }
    }

    /// The value written to the control function's COMMAND register.
    pub const fn code(self) -> u32 {
        match self {
            Action::Checkpoint => commands::CHECKPOINT,
            Action::Restore => commands::RESTORE,
            Action::Restart => commands::RESTART,
            Action::Stop => commands::STOP,
            Action::Start => commands::START,
        }
    }

    fn from_name(word: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|action| action.name() == word)
    }
}

/// Which way a transfer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Send,
    Receive,
}

/// Which side of a ping-pong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Ping,
    Pong,
}

/// The endpoint of a channel a command talks to, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelArgs {
    /// Channel id or label.
    pub channel: String,
    /// `--peer N`, if given.
    pub peer: Option<u32>,
}

/// One parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Ps,
    Stats {
        partition: String,
    },
    Lifecycle {
        action: Action,
        partition: String,
    },
    Channels,
    Transfer {
        direction: Direction,
        endpoint: ChannelArgs,
        /// A path, or `-` for stdin/stdout.
        file: String,
    },
    PingPong {
        role: Role,
        endpoint: ChannelArgs,
        count: u64,
    },
}

/// A command line that does not parse; the message is one sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (see `bulkhead help`)", self.0)
    }
}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Parses the arguments after the program name.
pub fn parse<S: AsRef<str>>(arguments: &[S]) -> Result<Command, UsageError> {
    let arguments: Vec<&str> = arguments.iter().map(AsRef::as_ref).collect();
    let Some((&command, rest)) = arguments.split_first() else {
        return Err(usage("no command given"));
    };
    let (positional, peer) = split_peer(command, rest)?;
    if peer.is_some() && !matches!(command, "send" | "recv" | "ping" | "pong") {
        return Err(usage(format!("`{command}` takes no --peer")));
    }
    let exact = |count: usize, names: &str| -> Result<(), UsageError> {
        if positional.len() == count {
            Ok(())
        } else {
            Err(usage(format!("`{command}` takes {names}")))
        }
    };
    match command {
        "help" | "--help" | "-h" => {
            exact(0, "no arguments")?;
            Ok(Command::Help)
        }
        "ps" => {
            exact(0, "no arguments")?;
            Ok(Command::Ps)
        }
        "channels" => {
            exact(0, "no arguments")?;
            Ok(Command::Channels)
        }
        "stats" => {
            exact(1, "one partition NAME (label or id)")?;
            Ok(Command::Stats {
                partition: positional[0].to_string(),
            })
        }
        "send" | "recv" => {
            exact(2, "a channel CH and a FILE (- for stdin/stdout)")?;
            Ok(Command::Transfer {
                direction: if command == "send" {
                    Direction::Send
                } else {
                    Direction::Receive
                },
                endpoint: ChannelArgs {
                    channel: positional[0].to_string(),
                    peer,
                },
                file: positional[1].to_string(),
            })
        }
        "ping" | "pong" => {
            if positional.is_empty() || positional.len() > 2 {
                return Err(usage(format!(
                    "`{command}` takes a channel CH and an optional COUNT"
                )));
            }
            let count = match positional.get(1) {
                None => 1,
                Some(text) => match text.parse::<u64>() {
                    Ok(count) if count > 0 => count,
                    _ => {
                        return Err(usage(format!(
                            "COUNT `{text}` is not a number of at least 1"
                        )))
                    }
                },
            };
            Ok(Command::PingPong {
                role: if command == "ping" {
                    Role::Ping
                } else {
                    Role::Pong
                },
                endpoint: ChannelArgs {
                    channel: positional[0].to_string(),
                    peer,
                },
                count,
            })
        }
        other => match Action::from_name(other) {
            Some(action) => {
                exact(1, "one partition NAME (label or id)")?;
                Ok(Command::Lifecycle {
                    action,
                    partition: positional[0].to_string(),
                })
            }
            None => Err(usage(format!("unknown command `{other}`"))),
        },
    }
}

/// Takes `--peer N` / `--peer=N` out of `rest`; anything else starting with `--` is refused.
fn split_peer<'a>(
    command: &str,
    rest: &[&'a str],
) -> Result<(Vec<&'a str>, Option<u32>), UsageError> {
    let mut positional = Vec::new();
    let mut peer = None;
    let mut words = rest.iter();
    while let Some(&word) = words.next() {
        let value = if word == "--peer" {
            Some(
                *words
                    .next()
                    .ok_or_else(|| usage("--peer needs an endpoint index"))?,
            )
        } else {
            word.strip_prefix("--peer=")
        };
        match value {
            Some(value) => {
                let index = value
                    .parse::<u32>()
                    .map_err(|_| usage(format!("--peer `{value}` is not an endpoint index")))?;
                if peer.replace(index).is_some() {
                    return Err(usage("--peer given twice"));
                }
            }
            None if word.starts_with("--") => {
                return Err(usage(format!("`{command}` has no option `{word}`")))
            }
            None => positional.push(word),
        }
    }
    Ok((positional, peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Result<Command, UsageError> {
        let words: Vec<&str> = line.split_whitespace().collect();
        parse(&words)
    }

    #[test]
    fn partition_commands() {
        assert_eq!(parsed("ps"), Ok(Command::Ps));
        assert_eq!(parsed("help"), Ok(Command::Help));
        assert_eq!(
            parsed("stats linux"),
            Ok(Command::Stats {
                partition: "linux".into()
            })
        );
        for action in Action::ALL {
            assert_eq!(
                parsed(&format!("{} 2", action.name())),
                Ok(Command::Lifecycle {
                    action,
                    partition: "2".into()
                })
            );
        }
        assert_eq!(Action::Checkpoint.code(), commands::CHECKPOINT);
        assert_eq!(Action::Start.code(), commands::START);
    }

    #[test]
    fn channel_commands() {
        assert_eq!(parsed("channels"), Ok(Command::Channels));
        assert_eq!(
            parsed("send results /tmp/a"),
            Ok(Command::Transfer {
                direction: Direction::Send,
                endpoint: ChannelArgs {
                    channel: "results".into(),
                    peer: None
                },
                file: "/tmp/a".into(),
            })
        );
        assert_eq!(
            parsed("recv 0 - --peer 2"),
            Ok(Command::Transfer {
                direction: Direction::Receive,
                endpoint: ChannelArgs {
                    channel: "0".into(),
                    peer: Some(2)
                },
                file: "-".into(),
            })
        );
        assert_eq!(
            parsed("ping --peer=1 results 5"),
            Ok(Command::PingPong {
                role: Role::Ping,
                endpoint: ChannelArgs {
                    channel: "results".into(),
                    peer: Some(1)
                },
                count: 5,
            })
        );
        assert_eq!(
            parsed("pong results"),
            Ok(Command::PingPong {
                role: Role::Pong,
                endpoint: ChannelArgs {
                    channel: "results".into(),
                    peer: None
                },
                count: 1,
            })
        );
    }

    #[test]
    fn refusals_name_the_problem() {
        let message = |line: &str| parsed(line).expect_err(line).0;
        assert_eq!(message(""), "no command given");
        assert_eq!(message("frobnicate"), "unknown command `frobnicate`");
        assert_eq!(message("ps extra"), "`ps` takes no arguments");
        assert_eq!(
            message("stats"),
            "`stats` takes one partition NAME (label or id)"
        );
        assert_eq!(
            message("stop a b"),
            "`stop` takes one partition NAME (label or id)"
        );
        assert_eq!(
            message("ping ch 0"),
            "COUNT `0` is not a number of at least 1"
        );
        assert_eq!(
            message("pong ch x"),
            "COUNT `x` is not a number of at least 1"
        );
        assert_eq!(
            message("send ch"),
            "`send` takes a channel CH and a FILE (- for stdin/stdout)"
        );
        assert_eq!(
            message("send ch f --peer"),
            "--peer needs an endpoint index"
        );
        assert_eq!(
            message("send ch f --peer x"),
            "--peer `x` is not an endpoint index"
        );
        assert_eq!(message("send ch f --peer 1 --peer 2"), "--peer given twice");
        assert_eq!(message("ps --peer 1"), "`ps` takes no --peer");
        assert_eq!(message("recv ch f --fast"), "`recv` has no option `--fast`");
        assert_eq!(
            parsed("frobnicate").unwrap_err().to_string(),
            "unknown command `frobnicate` (see `bulkhead help`)"
        );
    }
}
