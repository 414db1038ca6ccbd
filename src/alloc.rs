//! Allocator settings that depend on what the process runs.
//!
//! Every binary allocates with mimalloc (ADR 007). mimalloc keeps the pages it frees for a
//! while (10 ms, and ten times that for whole arenas) before it returns them to the OS, so a
//! page freed by one batch is at hand for the next without a system call. The ingester and
//! the querier want that: they allocate and free at a high rate, and the pages come straight
//! back. A merge is different: it frees one column's buffers and allocates the next column's,
//! of other sizes, on other threads, so the delayed pages pile up in the resident set without
//! being reused. On W5 (10 blocks of 1M spans) the merge peaked at 511-519 MiB with the
//! default delay and 490-514 MiB with none (ADR 019, "Freed pages returned at once").
//!
//! The only unsafe code of the workspace: calls of mimalloc's C option API (one here, one more
//! in the test), which the `mimalloc` crate does not wrap (the root crate denies unsafe code
//! instead of forbidding it, for this module alone).
#![allow(unsafe_code)]

/// mimalloc's `mi_option_purge_delay` (v3 numbering; `libmimalloc-sys` has no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Make mimalloc return freed pages to the OS at once instead of after its purge delay. For
/// processes whose peak memory matters more than the system calls it costs: the compactor and
/// `contrail-cli block compact`. Call it first thing in `main`, before other threads exist
/// (mimalloc's option setters are not thread-safe). A `MIMALLOC_PURGE_DELAY` set in the
/// environment still wins, so an operator can restore the delay.
pub fn purge_freed_pages_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets a process-wide integer option; called before any other thread is started.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option_value() -> std::os::raw::c_long {
        // SAFETY: reads a process-wide integer option.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
    }

    /// Run in a child process by the test below: prints the option's value.
    #[test]
    fn child_prints_the_option() {
        if std::env::var_os("CONTRAIL_ALLOC_TEST_CHILD").is_some() {
            println!("option-value={}", option_value());
        }
    }

    /// Option 15 is the one mimalloc reads from `MIMALLOC_PURGE_DELAY`: a child started with
    /// that variable sees its value there, and setting the option changes it.
    #[test]
    fn option_15_is_mimallocs_purge_delay() {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "alloc::tests::child_prints_the_option",
                "--nocapture",
            ])
            .env("CONTRAIL_ALLOC_TEST_CHILD", "1")
            .env("MIMALLOC_PURGE_DELAY", "1234")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("option-value=1234"),
            "child printed: {stdout}"
        );
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            purge_freed_pages_at_once();
            assert_eq!(option_value(), 0);
        }
    }
}
