//! Command-line flags, written as Tempo users write them: `-config.file=tempo.yaml`,
//! `-config.expand-env`, `-config.verify`, `-target=distributor`, `--version`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Parser};

use crate::target::Target;

/// The `contrail` command line.
#[derive(Debug, Parser)]
#[command(name = "contrail", version = crate::VERSION, about = "Contrail: a trace database that speaks Tempo's APIs")]
pub struct Flags {
    /// The config file.
    #[arg(long = "config.file", default_value = "./tempo.yaml")]
    pub config_file: PathBuf,
    /// Replace `${VAR}` and `${VAR:-default}` in the config file with environment variables.
    #[arg(long = "config.expand-env", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, default_value = "false")]
    pub expand_env: bool,
    /// Check the config file, print its warnings, and exit (0 = valid).
    #[arg(long = "config.verify", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, default_value = "false")]
    pub verify: bool,
    /// The components to run; overrides `target:` in the config file.
    #[arg(long = "target", value_parser = parse_target)]
    pub target_opt: Option<Target>,
}

fn parse_target(name: &str) -> Result<Target, String> {
    name.parse()
}

impl Flags {
    /// Parses `args` (program name first), accepting Go-style single-dash long flags.
    pub fn parse_from_args(args: impl IntoIterator<Item = OsString>) -> Result<Self, clap::Error> {
        Flags::try_parse_from(args.into_iter().enumerate().map(|(index, arg)| {
            if index == 0 {
                return arg;
            }
            match arg.to_str() {
                // `-config.file=x` → `--config.file=x`; `-h` and `--flag` stay as they are.
                Some(text)
                    if text.len() > 2 && text.starts_with('-') && !text.starts_with("--") =>
                {
                    OsString::from(format!("-{text}"))
                }
                _ => arg,
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::Flags;
    use crate::target::Target;

    fn parse(args: &[&str]) -> Result<Flags, clap::Error> {
        Flags::parse_from_args(
            std::iter::once("contrail")
                .chain(args.iter().copied())
                .map(Into::into),
        )
    }

    #[test]
    fn tempo_style_flags_parse() {
        let flags = parse(&[
            "-config.file=/etc/tempo.yaml",
            "-config.expand-env",
            "-target=distributor",
        ])
        .expect("parses");
        assert_eq!(flags.config_file.to_str(), Some("/etc/tempo.yaml"));
        assert!(flags.expand_env);
        assert!(!flags.verify);
        assert_eq!(flags.target_opt, Some(Target::Distributor));
        let flags = parse(&["--config.verify=true", "--config.file", "x.yaml"]).expect("parses");
        assert!(flags.verify);
        assert_eq!(flags.config_file.to_str(), Some("x.yaml"));
        let defaults = parse(&[]).expect("parses");
        assert_eq!(defaults.config_file.to_str(), Some("./tempo.yaml"));
        assert_eq!(defaults.target_opt, None);
    }

    #[test]
    fn bad_flags_are_errors_naming_them() {
        let error = parse(&["-target=metrics-generator"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("metrics-generator"), "{error}");
        let error = parse(&["-config.nope"]).unwrap_err().to_string();
        assert!(error.contains("config.nope"), "{error}");
        assert_eq!(
            parse(&["--version"]).unwrap_err().kind(),
            clap::error::ErrorKind::DisplayVersion
        );
    }
}
