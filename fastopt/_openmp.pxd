# OpenMP shim: the real runtime calls when the extension is compiled with OpenMP,
# serial stand-ins otherwise, so that _kernels.pyx compiles either way.
# (Cython's prange already degrades to a serial loop without OpenMP.)

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FASTOPT_OPENMP 1
    #else
    #define FASTOPT_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_num_threads(void) { return 1; }
    static int omp_get_thread_num(void) { return 0; }
    static int omp_get_thread_limit(void) { return 2147483647; }
    #endif
    """
    bint FASTOPT_OPENMP
    int omp_get_max_threads() noexcept nogil
    int omp_get_num_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
    int omp_get_thread_limit() noexcept nogil
