#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_worker(void) { return suite_create("worker"); }
