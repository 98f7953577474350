/* The build's identity (base/build_info.h); the values come from the header
 * meson writes at configure time. */
#include "base/build_info.h"

#include "base/rb_build_config.h" /* generated: base/meson.build */

const char *rb_build_id(void) {
    return RB_VERSION_TEXT " (git " RB_GIT_DESCRIBE ", configured " RB_CONFIGURE_TIME ")";
}

int rb_build_has_mpi(void) { return RB_HAVE_MPI; }

const char *rb_build_mpi(void) { return RB_MPI_TEXT; }
