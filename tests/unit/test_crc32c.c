#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_crc32c(void) { return suite_create("crc32c"); }
