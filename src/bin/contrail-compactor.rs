//! `contrail-compactor`: Contrail's compactor alone (`contrail -target=compactor`), for distributed deployments.

fn main() -> std::process::ExitCode {
    contrail::run_as(contrail::target::Target::Compactor)
}
