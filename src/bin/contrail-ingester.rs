//! `contrail-ingester`: Contrail's ingester alone (`contrail -target=ingester`), for distributed deployments.

fn main() -> std::process::ExitCode {
    contrail::run_as(contrail::target::Target::Ingester)
}
