fn main() -> anyhow::Result<()> {
    contrail_loadgen::run()?;
    Ok(())
}
