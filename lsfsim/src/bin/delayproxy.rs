//! A TCP relay that adds network latency, for benchmarking bsweep over SSH on one machine (the
//! kernel has no `tc netem` here). Used as an ssh `ProxyCommand`:
//!
//! ```text
//! ProxyCommand /path/to/delayproxy --delay-ms 25 127.0.0.1:2222
//! ```
//!
//! It connects to the address and relays stdin to the socket and the socket to stdout, holding
//! every chunk `--delay-ms` (default 25) in each direction, so a round trip costs twice that.
//! Each direction is a reader that stamps chunks with their due time and a writer that sends them
//! in order once due: chunks in flight overlap (a pipe, not a stop-and-wait link), and the
//! bandwidth is whatever the machine gives.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Read size: larger than any SSH packet bsweep's traffic makes.
const CHUNK: usize = 64 * 1024;

/// Relays `from` to `to`, each chunk released `delay` after it was read. Returns when `from`
/// ends (or fails) and everything read has been written; then `done` runs (a half-close).
fn relay(
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
    delay: Duration,
    done: impl FnOnce() + Send + 'static,
) -> thread::JoinHandle<()> {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        // Dropping `tx` tells the writer no more is coming.
    });
    thread::spawn(move || {
        // Due times only grow, so waiting for the head never holds back a chunk already due.
        for (due, chunk) in rx {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&chunk).and_then(|()| to.flush()).is_err() {
                break;
            }
        }
        done();
    })
}

fn main() -> ExitCode {
    let mut delay_ms: u64 = 25;
    let mut addr = "127.0.0.1:2222".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--delay-ms" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => delay_ms = v,
                None => {
                    eprintln!("delayproxy: --delay-ms needs a number of milliseconds");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                eprintln!("usage: delayproxy [--delay-ms MS (25)] [HOST:PORT (127.0.0.1:2222)]");
                return ExitCode::SUCCESS;
            }
            _ => addr = a,
        }
    }
    let delay = Duration::from_millis(delay_ms);
    let sock = match TcpStream::connect(&addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("delayproxy: cannot connect to {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Small SSH packets go out at once: the delay is ours to add, not Nagle's.
    let _ = sock.set_nodelay(true);
    let (Ok(sock_in), Ok(sock_out), Ok(sock_half)) =
        (sock.try_clone(), sock.try_clone(), sock.try_clone())
    else {
        eprintln!("delayproxy: cannot duplicate the socket");
        return ExitCode::FAILURE;
    };
    // Client to server: when ssh closes our stdin, pass the end on as a half-close.
    let _up = relay(io::stdin(), sock_out, delay, move || {
        let _ = sock_half.shutdown(Shutdown::Write);
    });
    // Server to client: when the server closes, we are done.
    let down = relay(sock_in, io::stdout(), delay, || {});
    let _ = down.join();
    ExitCode::SUCCESS
}
