//! Printing results to standard output so that a closed pipe ends the program quietly.
//!
//! Why: Rust ignores `SIGPIPE`, so `eigenformer spectrum --json | head -1` makes every later write
//! fail with `EPIPE`, and `println!` turns that into a panic ("failed printing to stdout: Broken
//! pipe", exit 101). A Unix tool whose reader went away should just stop. Commands print through
//! [`outln!`](crate::outln) / [`out!`](crate::out) instead, which return the failure as an error
//! like any other; the binary recognises it with [`is_broken_pipe`] anywhere in the error chain
//! and exits with [`BROKEN_PIPE_EXIT`] without a message.

use crate::{IoError, Result};
use std::io::Write;
use std::path::Path;

/// The exit status of a command whose standard output was closed: 128 + SIGPIPE (13), what a
/// shell reports for a tool killed by the signal, so `set -o pipefail` scripts see the usual code.
pub const BROKEN_PIPE_EXIT: u8 = 141;

/// The name standard output carries in errors.
const STDOUT: &str = "<standard output>";

/// Write `args` to standard output and flush, so a closed pipe is reported by this call rather
/// than lost at exit. Errors are [`IoError::Io`] naming standard output; a closed pipe keeps
/// [`std::io::ErrorKind::BrokenPipe`] as its source.
pub fn write_fmt(args: std::fmt::Arguments<'_>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(IoError::io("writing", Path::new(STDOUT)))
}

/// Whether `err` (one link of an error chain) is a write to a closed pipe.
pub fn is_broken_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    let io = match err.downcast_ref::<IoError>() {
        Some(IoError::Io { source, .. }) => Some(source),
        _ => err.downcast_ref::<std::io::Error>(),
    };
    io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Whether any link of the chain starting at `err` is a write to a closed pipe.
pub fn chain_is_broken_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if is_broken_pipe(e) {
            return true;
        }
        next = e.source();
    }
    false
}

/// `println!` that returns a closed pipe (or any write error) as an [`IoError`] instead of
/// panicking: `eigenformer_io::outln!("{x}")?`.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::stdout::write_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdout::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that returns a closed pipe (or any write error) as an [`IoError`] instead of
/// panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::write_fmt(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipes_are_recognised_through_the_chain() {
        let pipe = IoError::io("writing", Path::new(STDOUT))(std::io::Error::from(
            std::io::ErrorKind::BrokenPipe,
        ));
        assert!(is_broken_pipe(&pipe));
        assert!(chain_is_broken_pipe(&pipe));
        assert!(is_broken_pipe(&std::io::Error::from(
            std::io::ErrorKind::BrokenPipe
        )));
        let other = IoError::io("writing", Path::new(STDOUT))(std::io::Error::from(
            std::io::ErrorKind::PermissionDenied,
        ));
        assert!(!is_broken_pipe(&other));
        assert!(!chain_is_broken_pipe(&other));

        #[derive(Debug)]
        struct Wrapper(IoError);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("printing the report")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert!(!is_broken_pipe(&Wrapper(pipe.clone_for_test())));
        assert!(chain_is_broken_pipe(&Wrapper(pipe)));
    }

    impl IoError {
        fn clone_for_test(&self) -> IoError {
            match self {
                IoError::Io {
                    action,
                    path,
                    source,
                } => IoError::Io {
                    action,
                    path: path.clone(),
                    source: std::io::Error::from(source.kind()),
                },
                _ => unreachable!(),
            }
        }
    }
}
