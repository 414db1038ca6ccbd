fn main() -> std::process::ExitCode {
    contrail::run()
}
