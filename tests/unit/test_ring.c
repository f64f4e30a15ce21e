#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_ring(void) { return suite_create("ring"); }
