#include "config.h"
#include "suites.h"
/* placeholder until the module lands */
Suite *suite_golden(void) { return suite_create("golden"); }
