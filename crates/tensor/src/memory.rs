//! Allocator settings for training loops.
//!
//! A training step allocates and frees the same few dozen activation-sized buffers (megabytes each)
//! every step. glibc's malloc serves blocks above its mmap threshold with fresh `mmap`s and returns
//! free memory at the top of the heap to the kernel, so each step pays for those pages again as
//! page faults and zeroing: measured on `bench-step --config vit-small`, about a third of the
//! process's CPU time was spent in the kernel. [`retain_freed_memory`] tells malloc to keep freed
//! memory for reuse instead.

/// Keep freed memory in the process for reuse (glibc: raise the mmap threshold to its maximum,
/// 32 MiB, and stop trimming the heap). Call once at the start of a program that trains or runs
/// large forward passes; it is a no-op on other platforms. Peak memory is unchanged; the memory a
/// process holds stays near its peak instead of dropping between steps.
pub fn retain_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // 32 MiB is glibc's upper limit for M_MMAP_THRESHOLD on 64-bit targets.
        const MMAP_THRESHOLD: libc::c_int = 32 << 20;
        const TRIM_THRESHOLD: libc::c_int = libc::c_int::MAX;
        // SAFETY: mallopt only changes malloc's tuning parameters; it is called before the
        // allocations it affects and has no memory-safety preconditions.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}
