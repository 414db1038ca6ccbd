fn main() {
    println!("contrail-loadgen {}", env!("CARGO_PKG_VERSION"));
}
