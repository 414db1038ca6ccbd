fn main() -> anyhow::Result<()> {
    contrail::run()
}
