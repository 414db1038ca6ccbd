//! Printing to standard output as a command-line tool should: when the reader has gone (`| head`
//! closed the pipe), the tool ends quietly with status 0 instead of panicking, as `println!`
//! does on a broken pipe. Any other write error ends it with status 1 and a one-line message.

use std::io::{ErrorKind, Write};

/// Writes `args` and a newline to standard output (see the module docs).
pub(crate) fn line(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
    {
        if error.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {error}");
        std::process::exit(1);
    }
}

/// `println!` for the CLI's output: [`line`] (in scope in every `cli` module: `#[macro_use]`).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::out::line(format_args!($($arg)*))
    };
}
