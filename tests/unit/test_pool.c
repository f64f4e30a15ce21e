#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_pool(void) { return suite_create("pool"); }
