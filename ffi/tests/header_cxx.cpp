// The header compiles as C++ (extern "C", no C-only constructs) and links names unmangled.
#include "strela.h"

static_assert(sizeof(strela_str) == sizeof(void *) + sizeof(size_t), "strela_str layout");

extern "C" int strela_cxx_check(void) {
    return strela_abi_version() == STRELA_ABI_VERSION ? 0 : 1;
}
