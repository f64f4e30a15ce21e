#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_tracker(void) { return suite_create("tracker"); }
