#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_assignor(void) { return suite_create("assignor"); }
