//! A child process that never outlives its test: killed and reaped when dropped, and read
//! line by line until it says what the test waits for (a server's address).

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running child process; killed when dropped.
#[derive(Debug)]
pub struct Process {
    child: Child,
    lines: Option<mpsc::Receiver<String>>,
}

impl Process {
    /// Starts `cmd` with its stdout piped (read with [`Process::wait_for_line`]).
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let lines = child.stdout.take().map(forward);
        Self { child, lines }
    }

    /// Waits (at most `within`) for a stdout line containing `needle` and returns it; panics
    /// if the process exits or stays silent that long.
    pub fn wait_for_line(&mut self, needle: &str, within: Duration) -> String {
        let Some(lines) = &self.lines else {
            panic!("stdout is not piped");
        };
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no line with `{needle}` within {within:?} (exit status: {:?})",
                    self.child.try_wait().ok().flatten()
                ),
            }
        }
    }
}

/// Its lines, on a channel (a thread reads them so the pipe never fills).
fn forward(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
