/* What this build is: the version, the source revision and the time it was
 * configured (fixed by meson at configure time: base/build_info.h.in), and
 * whether MPI support is compiled in.  Result records carry the build id
 * (eval/provenance.h) so a merged table can say which build made a number. */
#ifndef RB_BUILD_INFO_H
#define RB_BUILD_INFO_H

/* "0.1.0 (git 4e51194-dirty, configured 2026-12-02T03:10:00Z)": static. */
const char *rb_build_id(void);

/* 1 when the sweep runner was built with MPI (run/sweep_mpi.h), else 0. */
int rb_build_has_mpi(void);

/* "Open MPI v4.1.4" style text of the MPI library compiled in, or "no". */
const char *rb_build_mpi(void);

#endif
