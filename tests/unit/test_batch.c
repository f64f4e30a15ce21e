#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_batch(void) { return suite_create("batch"); }
