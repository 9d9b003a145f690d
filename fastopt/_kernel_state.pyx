"""The state every build of the kernels shares, one copy per process: each instruction-set
build of fastopt/_kernels.pyx is a module of its own, with its own globals, so what must
hold for all of them lives here.  A build takes the pointer ``shared_state()`` returns when
it is imported, and reads through it."""

# Below this many elements a kernel runs on the calling thread (OpenMP start-up would cost
# more than the work).  Chosen from bench/kernels.py measurements; see README.
PARALLEL_THRESHOLD = 65536

cdef SharedState state
state.parallel_threshold = PARALLEL_THRESHOLD
state.forked = False


cdef SharedState* shared_state() noexcept:
    return &state


def set_parallel_threshold(Py_ssize_t n):
    """Set the element count from which kernels use threads, in every build; returns the
    previous value."""
    if n < 0:
        raise ValueError(f"Invalid parallel threshold: {n}")
    old = state.parallel_threshold
    state.parallel_threshold = n
    return old


def after_fork_in_child():
    """Called in a process forked from this one (fastopt._threads registers it): libgomp
    cannot start a thread team in a child forked after the parent used OpenMP (the child
    hangs in its first parallel region), so there every kernel, in every build, runs on the
    calling thread.  Processes started with "spawn" or "forkserver" are not affected."""
    state.forked = True
