# The state every build of the kernels shares (fastopt/_kernel_state.pyx).

cdef struct SharedState:
    # elements from which a kernel uses threads (set_parallel_threshold)
    Py_ssize_t parallel_threshold
    # whether this process was forked from one that may have used OpenMP (after_fork_in_child)
    bint forked

cdef SharedState* shared_state() noexcept
